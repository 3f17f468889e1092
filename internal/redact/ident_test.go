package redact

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestScrubIdentMasksWhatIsNoIdentifier: an id holding what an id does not
// has its digits masked; Deepvue's ids, a UUID and a digit reference id stay
// intact. (Through a call: TestIdentifiersThatAreNotIdentifiers in the core.)
func TestScrubIdentMasksWhatIsNoIdentifier(t *testing.T) {
	var none *Secrets
	for in, want := range map[string]string{
		"12815fb81c084fb7a35eedc0ef1c5a84":     "12815fb81c084fb7a35eedc0ef1c5a84",
		"b51a55adb999941057058f49e48d2307":     "b51a55adb999941057058f49e48d2307", // a valid Aadhaar number inside a hex id
		"f6efc218-742a-405c-8dd6-5cf19c13b878": "f6efc218-742a-405c-8dd6-5cf19c13b878",
		"29756208":                             "29756208",
		"tx-source":                            "tx-source",
		"VERIFICATION_PENDING":                 "VERIFICATION_PENDING",
		"2341-2341-2346":                       "XXXX-XXXX-XXXX",
		"२३४१२३४१२३४६":                         "XXXXXXXXXXXX",
		"999941057058":                         "XXXXXXXXXXXX", // the whole id is an Aadhaar number
		"99994105705":                          "99994105705",
		"98765 43210":                          "XXXXX XXXXX",
		"482.913":                              "XXX.XXX",
		"tx-²³⁴":                               "tx-XXX",
		"AADHAAR_2341_2341":                    "AADHAAR_XXXX_XXXX",
	} {
		assert.Equal(t, want, none.ScrubIdent(in, 128), "%q", in)
	}
}

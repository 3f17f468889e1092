package deepvuetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"sync"
)

// The sample record is the one in Deepvue's documentation.
const (
	SampleName         = "Mohammed Nihar"
	SampleDateOfBirth  = "28-06-1999"
	SampleGender       = "M"
	SampleMaskedNumber = "xxxx-xxxx-8091"
	SampleGeneratedAt  = "1738304139979"
)

// SampleData returns a fresh copy of the "data" object of a successful
// verify-otp answer, photo included, PDF and mobile match not.
func SampleData() map[string]any {
	return map[string]any{
		"address": map[string]any{
			"careOf": "S/O H. Nue Mahammed", "country": "India", "district": "Bangalore", "house": "NO. 6",
			"landmark": "", "locality": "MTS LAYOUT J X NAGAR 51TH PHASE", "pin": "561118",
			"postOffice": "J P Nagar", "state": "Karnataka", "street": "19TH MAIN", "subDistrict": "", "vtc": "Bangalore",
		},
		"dateOfBirth":  SampleDateOfBirth,
		"email":        hashHex("sample-email@deepvuetest.invalid"),
		"gender":       SampleGender,
		"generatedAt":  SampleGeneratedAt,
		"maskedNumber": SampleMaskedNumber,
		"name":         SampleName,
		"phone":        hashHex("sample-phone-deepvuetest"),
		"photo":        base64.StdEncoding.EncodeToString(SamplePhoto()),
	}
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

var (
	assetsOnce sync.Once
	photoJPEG  []byte
	samplePDF  []byte
)

func makeAssets() {
	photoJPEG = makePhoto()
	samplePDF = makePDF()
}

// SamplePhoto returns the sample photo: a small real JPEG (a grey
// silhouette, 120x150) that any image viewer opens.
func SamplePhoto() []byte {
	assetsOnce.Do(makeAssets)
	return bytes.Clone(photoJPEG)
}

// SamplePDF returns the sample e-Aadhaar PDF: a one-page real PDF that says it
// is synthetic test data.
func SamplePDF() []byte {
	assetsOnce.Do(makeAssets)
	return bytes.Clone(samplePDF)
}

func makePhoto() []byte {
	const w, h = 120, 150
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bg := color.RGBA{0xe8, 0xee, 0xf4, 0xff}
	fg := color.RGBA{0x70, 0x78, 0x84, 0xff}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := bg
			dx, dy := x-w/2, y-55
			if dx*dx+dy*dy < 28*28 { // head
				c = fg
			}
			sx, sy := x-w/2, y-150
			if sx*sx/4+sy*sy < 60*60 && y > 88 { // shoulders
				c = fg
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}) // cannot fail: in-memory image and buffer
	return buf.Bytes()
}

func makePDF() []byte {
	lines := []string{
		"e-Aadhaar (SAMPLE)",
		"Synthetic test data from deepvuetest. Not a real Aadhaar.",
		"",
		"Name: " + SampleName,
		"Date of birth: " + SampleDateOfBirth + "    Gender: " + SampleGender,
		"Aadhaar: XXXX XXXX 8091",
		"Address: NO. 6, 19TH MAIN, MTS LAYOUT J X NAGAR 51TH PHASE,",
		"J P Nagar, Bangalore, Karnataka, India - 561118",
	}
	var content strings.Builder
	content.WriteString("BT /F1 12 Tf 40 250 Td 16 TL\n")
	for _, l := range lines {
		l = strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(l)
		fmt.Fprintf(&content, "(%s) Tj T*\n", l)
	}
	content.WriteString("ET\n")

	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 480 300] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}

package redislimit

import "slices"

// knownSlots is what a replica knows was booked: its own slots and those
// the fleet's answers showed it, in microseconds of Redis's clock, in
// order, each once (the script books unique times). While Redis does not
// answer they are what the replica paces around; when Redis comes back
// having lost its slots (a restart without persistence), or after an
// outage (the slots paced locally are not in Redis), they are what the
// replica gives back to it.
type knownSlots struct {
	s []int64 // ascending, unique
}

// add records x (once).
func (k *knownSlots) add(x int64) {
	n := len(k.s)
	if n == 0 || x > k.s[n-1] { // the usual case: a new latest slot
		k.s = append(k.s, x)
		return
	}
	i, found := slices.BinarySearch(k.s, x)
	if !found {
		k.s = slices.Insert(k.s, i, x)
	}
}

// addOwn records a slot this replica took while Redis did not answer, at
// x or, if another slot holds that time, the first free microsecond after
// it (slots are unique). It returns the time recorded.
func (k *knownSlots) addOwn(x int64) int64 {
	i, found := slices.BinarySearch(k.s, x)
	for found {
		x++
		i++
		found = i < len(k.s) && k.s[i] == x
	}
	k.s = slices.Insert(k.s, i, x)
	return x
}

// remove forgets x (a slot given back).
func (k *knownSlots) remove(x int64) {
	if i, found := slices.BinarySearch(k.s, x); found {
		k.s = slices.Delete(k.s, i, i+1)
	}
}

// last returns the latest slot known, 0 if none.
func (k *knownSlots) last() int64 {
	if len(k.s) == 0 {
		return 0
	}
	return k.s[len(k.s)-1]
}

// trim forgets the slots no window needs any more, once there are more
// than keep+keep/16+32 (so that its copy is rare): the oldest beyond that
// count, and beyond the last keep those before before.
func (k *knownSlots) trim(before int64, keep int) {
	limit := keep + keep/16 + 32
	if len(k.s) <= limit {
		return
	}
	drop := len(k.s) - limit // at least this many, the oldest
	for drop < len(k.s)-keep && k.s[max(drop, 0)] < before {
		drop = max(drop, 0) + 1
	}
	if drop > 0 {
		k.s = append(k.s[:0], k.s[drop:]...)
	}
}

package ack

import "unsafe"

// senderBytes is the memory of s: the struct and its flight array.
func senderBytes(s *Sender) int {
	return int(unsafe.Sizeof(*s)) + cap(s.flights)*int(unsafe.Sizeof(flight{}))
}

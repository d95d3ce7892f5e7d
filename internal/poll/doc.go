// Package poll waits in tests for a condition that other goroutines make
// true: Until polls it, quickly at first and then every few milliseconds,
// and fails the test with what it waited for when the time runs out. It is
// for waiting on the code under test, never for measuring it.
package poll

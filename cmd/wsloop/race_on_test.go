//go:build race

package main

// raceEnabled: the test binary was built with -race, so TestMain builds the
// wsloop binary with it too.
const raceEnabled = true

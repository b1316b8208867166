//go:build race

package server

// raceDetector is on: timings mean nothing (it slows code several times).
const raceDetector = true

package main

import (
	"testing"

	"github.com/wsloop/wsloop/bench/internal/peertest"
)

func TestConformance(t *testing.T) { peertest.Conformance(t, serve) }

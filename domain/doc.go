// Package domain is the pure core of the ledger: the project aggregate for the
// whole lifecycle of a publicly funded project, its commands, its events, the
// funding rules (R1–R30 of the domain notes) and money in integer fen.
//
// It imports the standard library only: no NATS, no HTTP, no clock and no
// randomness. Commands decide and may fail with a named rule; applying an event
// never fails; the effective time and the recording time are passed in.
package domain

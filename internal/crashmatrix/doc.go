// Package crashmatrix holds Herald's crash matrix: a test that runs a mixed
// workload (keyed publishes; pulls that ack, nack with and without a delay
// and reject; redrives of dead letters; retention deletes; topics created
// and deleted) in a child process over a real data directory, SIGKILLs it
// at random moments, restarts it, and checks the history it printed
// against what the directory holds:
//
//   - no acknowledged event is lost;
//   - no event id is stored twice;
//   - every partition keeps each key's order;
//   - an event whose ack was confirmed is never delivered again (unless it
//     was dead-lettered and redriven);
//   - in the end every event is finished, acked or dead-lettered, and no
//     subscription position has moved past an event that was not.
//
// The package has no code outside its test; this file only documents it.
package crashmatrix

package controller

// This file defines the leader-election hook. Invariant: a manager with an
// Elector reconciles only inside onStarted, and an Elector lets no other
// replica lead before onStarted has returned, so two replicas never
// reconcile at once as long as the Elector keeps its contract.

import "context"

// Elector decides when this replica leads. A Manager whose
// ManagerOptions.LeaderElection is set runs its caches at once (a warm
// standby) but its controllers only while Run says this replica leads.
//
// The contract, which an implementation over coordination.k8s.io Leases
// (client-go's leaderelection semantics) meets:
//
//   - Run campaigns until ctx is done, then returns; it may lead several
//     times (terms) in between.
//   - Each time this replica becomes the leader, Run calls onStarted with
//     a context that is cancelled when leadership is lost (a renewal missed
//     its deadline) or ctx is done, and waits for onStarted to return.
//     Terms never overlap: onStarted is never called while a previous call
//     has not returned.
//   - While onStarted runs, Run keeps renewing, even after ctx is done:
//     the Manager drains reconciles in progress then (up to its
//     GracefulShutdownTimeout) and the lease must cover them. Only after
//     onStarted returned may Run release the lease (release on cancel) and
//     call onStopped.
//   - When leadership is lost, the Manager cancels reconciles in progress
//     at once; they may still be running for a moment, so an
//     implementation should lose leadership (stop acting as leader) before
//     the lease can expire for others, as client-go's renew deadline does.
type Elector interface {
	Run(ctx context.Context, onStarted func(ctx context.Context), onStopped func())
}

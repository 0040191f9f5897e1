// The scheduling policy of the threads that run jobs (function workers, command run threads)
// and of the programs they start: SCHED_BATCH, the same share of the CPU as any thread at its
// nice level, but a job's thread, woken, does not preempt the thread that woke it (the store's
// writer delivering a batch, an HTTP thread answering). Jobs behind a web service are
// background work, which is what the policy is for.
//
// Threading: call from the thread to change; any thread, any number of times.
#pragma once

namespace wq::run {

// Puts the calling thread under SCHED_BATCH. Refused only by an unusual security policy: the
// thread then keeps its policy, which is logged once per process.
void run_as_batch();

}  // namespace wq::run

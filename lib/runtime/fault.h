/*
 * Fault injection (tests only): makes the N-th OpenCL call of a kind fail
 * with a chosen error, so that tests can walk every error path of a
 * workload (test/test-faults.c).
 *
 * Each hook point is one line in front of (or around) the OpenCL call:
 *     cl_mem m = clf_fault(CLF_FAULT_BUFFER, &err) ? NULL : clCreateBuffer(..., &err);
 * clf_fault() returns true, with *err set to the armed error, when the
 * call is the one armed; the OpenCL call is then not made. Disarmed (the
 * normal state) it costs one load and test of a global int.
 *
 * Kinds and where they are hooked:
 *   BUFFER   clCreateBuffer / clCreateSubBuffer, and the migration that makes a
 *            new buffer's memory real (runtime/pool.c clf_buffer_create,
 *            graph/plan.c)
 *   ENQUEUE  kernel launches and markers (runtime/launch.c clf_launch, clf_marker),
 *            clUpdateMutableCommandsKHR (clf_recorder_update_end),
 *            clEnqueueRead/WriteBuffer (runtime/transfer.c)
 *   LAUNCH   kernel launches only (clf_launch; clf_test_fail_launch_after)
 *   BUILD    clBuildProgram from source, clCreateProgramWithBinary from the
 *            disk cache (runtime/program.c)
 *   WAIT     clWaitForEvents (graph/executor.c, runtime/transfer.c,
 *            runtime/launch.c while recording)
 * A call counts once per kind it belongs to (a launch is LAUNCH and
 * ENQUEUE; the LAUNCH check comes first and a LAUNCH fault skips ENQUEUE's
 * count for that call).
 *
 * The state is process-global and not synchronised: arm, count and disarm
 * only while no other thread uses the library.
 */
#ifndef CLF_RUNTIME_FAULT_H
#define CLF_RUNTIME_FAULT_H

#include <stdbool.h>

#include "cl.h"

enum clf_fault_kind {
    CLF_FAULT_BUFFER = 0,
    CLF_FAULT_ENQUEUE,
    CLF_FAULT_LAUNCH,
    CLF_FAULT_BUILD,
    CLF_FAULT_WAIT,
    CLF_FAULT_KINDS
};

/* Nonzero while counting or while a kind is armed (the only thing a
 * disarmed hook reads). */
extern int clf_fault_active;

/* The slow path of clf_fault: counts the call, fails it when armed. */
bool clf_fault_hit(enum clf_fault_kind kind, cl_int *err);

/* True (and *err = the armed error) when this call of `kind` must fail. */
static inline bool clf_fault(enum clf_fault_kind kind, cl_int *err)
{
    return clf_fault_active && clf_fault_hit(kind, err);
}

/* The n-th call of `kind` from now (1: the next one) fails once with err;
 * n = 0 disarms the kind. Restarts the kind's call count. */
void clf_fault_arm(enum clf_fault_kind kind, unsigned long n, cl_int err);

/* The n-th call of `kind` from now and every later one fail with err,
 * until the kind is armed again or clf_fault_reset (a device that stays
 * out of memory, say): error paths that a single failure's retry or
 * fallback would hide. */
void clf_fault_arm_from(enum clf_fault_kind kind, unsigned long n, cl_int err);

/* Starts (true: every kind's count back to 0) or stops counting calls of
 * every kind while nothing is armed. */
void clf_fault_count(bool on);

/* Calls of `kind` seen since it was armed or counting started. */
unsigned long clf_fault_calls(enum clf_fault_kind kind);

/* Whether the armed fault of `kind` fired (at least once) since it was
 * armed. */
bool clf_fault_fired(enum clf_fault_kind kind);

/* Disarms every kind and stops counting. */
void clf_fault_reset(void);

/* "buffer", "enqueue", "launch", "build", "wait". */
const char *clf_fault_kind_str(enum clf_fault_kind kind);

#endif

/* Fault injection for tests (see fault.h). */
#include <stddef.h>

#include "fault.h"

int clf_fault_active;

static bool counting;
static unsigned long calls[CLF_FAULT_KINDS];
static unsigned long fail_at[CLF_FAULT_KINDS]; /* 0: not armed */
static cl_int fail_err[CLF_FAULT_KINDS];
static bool fired[CLF_FAULT_KINDS];
static bool sticky[CLF_FAULT_KINDS]; /* every call from fail_at on fails */

static void update_active(void)
{
    int on = counting;
    for (int k = 0; k < CLF_FAULT_KINDS; k++)
        on |= fail_at[k] != 0;
    clf_fault_active = on;
}

bool clf_fault_hit(enum clf_fault_kind kind, cl_int *err)
{
    if ((unsigned)kind >= CLF_FAULT_KINDS)
        return false;
    unsigned long n = ++calls[kind];
    if (!fail_at[kind] || n < fail_at[kind] || (n > fail_at[kind] && !sticky[kind]))
        return false;
    if (!sticky[kind]) {
        fail_at[kind] = 0; /* once: the calls after it succeed */
        update_active();
    }
    fired[kind] = true;
    *err = fail_err[kind];
    return true;
}

static void arm(enum clf_fault_kind kind, unsigned long n, cl_int err, bool from_on)
{
    if ((unsigned)kind >= CLF_FAULT_KINDS)
        return;
    calls[kind] = 0;
    sticky[kind] = from_on;
    fail_at[kind] = n;
    fail_err[kind] = err;
    fired[kind] = false;
    update_active();
}

void clf_fault_arm(enum clf_fault_kind kind, unsigned long n, cl_int err)
{
    arm(kind, n, err, false);
}

void clf_fault_arm_from(enum clf_fault_kind kind, unsigned long n, cl_int err)
{
    arm(kind, n, err, true);
}

void clf_fault_count(bool on)
{
    counting = on;
    if (on)
        for (int k = 0; k < CLF_FAULT_KINDS; k++)
            calls[k] = 0;
    update_active();
}

unsigned long clf_fault_calls(enum clf_fault_kind kind)
{
    return (unsigned)kind < CLF_FAULT_KINDS ? calls[kind] : 0;
}

bool clf_fault_fired(enum clf_fault_kind kind)
{
    return (unsigned)kind < CLF_FAULT_KINDS && fired[kind];
}

void clf_fault_reset(void)
{
    for (int k = 0; k < CLF_FAULT_KINDS; k++) {
        fail_at[k] = 0;
        fired[k] = false;
        sticky[k] = false;
    }
    counting = false;
    update_active();
}

const char *clf_fault_kind_str(enum clf_fault_kind kind)
{
    static const char *names[CLF_FAULT_KINDS] = {"buffer", "enqueue", "launch", "build", "wait"};
    return (unsigned)kind < CLF_FAULT_KINDS ? names[kind] : "?";
}

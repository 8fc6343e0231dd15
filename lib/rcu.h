/* rcu.h - the one RCU flavour sluice uses (urcu-memb: no signals, no
 * quiescent-state calls; every thread that reads must register). */
#ifndef SLUICE_RCU_H
#define SLUICE_RCU_H

#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>
#include <urcu/wfcqueue.h>

#endif

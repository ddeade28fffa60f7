#ifndef GAZEFILTER_CZEROMQ_SHIM_H
#define GAZEFILTER_CZEROMQ_SHIM_H
#include <zmq.h>
#include <errno.h>

/// The calling thread's errno as zmq sets it (zmq_errno is the portable spelling).
static inline int czmq_errno(void) { return zmq_errno(); }
#endif

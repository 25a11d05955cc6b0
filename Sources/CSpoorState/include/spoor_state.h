/* CSpoorState defines the runtime's process-wide and thread-local variables that spoor.h and
 * spoor_internal.h declare (state.c). It declares nothing of its own. */
#ifndef SPOOR_STATE_H
#define SPOOR_STATE_H
#include "spoor_internal.h"
#endif

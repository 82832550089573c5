/* What the two files of c_pusher share. */
#ifndef C_PUSHER_H
#define C_PUSHER_H

#include "threads.h"

typedef struct worker {
    struct cbr_ring *ring;
    unsigned id;
    unsigned long long count;
    unsigned long long accepted;
    test_thread thread;
} worker;

/* The thread body: pushes w->count records, counting those accepted. */
void *c_pusher_work(void *arg);

#endif

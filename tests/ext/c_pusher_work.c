/* The second file of c_pusher: it uses the table c_pusher.c imported. */
#define CBRING_UNIQUE_SYMBOL c_pusher_cbring_api
#define CBRING_NO_IMPORT
#include <cbring/cbring.h>

#include <string.h>

#include "c_pusher.h"

/* Each worker uses one path of the API: 0 push, 1 push_batch, 2 push_status,
 * 3 the user-data callback.  context = (id << 40) | i for every path. */
void *c_pusher_work(void *arg)
{
    worker *w = (worker *)arg;
    unsigned long long i;
    cbr_record batch[16];
    size_t pending = 0;

    for (i = 0; i < w->count; i++) {
        unsigned long long ctx = ((unsigned long long)w->id << 40) | i;
        cbr_async_result ar;
        ar.dwResult = (cbr_dword_ptr)i;
        ar.dwError = w->id;
        switch (w->id % 4) {
        case 0:
        case 1: {
            cbr_record rec;
            memset(&rec, 0, sizeof rec);
            rec.handle = w->id + 1;
            rec.context = ctx;
            rec.status = 100;
            rec.kind = CBR_INFO_ASYNC_RESULT;
            rec.result = i;
            rec.error = w->id;
            if (w->id % 4 == 0) {
                int r = cbring_push(w->ring, &rec);
                w->accepted += r == CBRING_PUSHED || r == CBRING_SPILLED;
            } else {
                batch[pending++] = rec;
                if (pending == 16 || i + 1 == w->count) {
                    w->accepted += cbring_push_batch(w->ring, batch, pending);
                    pending = 0;
                }
            }
            break;
        }
        case 2: {
            int r = cbring_push_status(w->ring, (cbr_hinternet)(uintptr_t)(w->id + 1),
                                       (cbr_dword_ptr)ctx, 100, &ar, sizeof ar);
            w->accepted += r == CBRING_PUSHED || r == CBRING_SPILLED;
            break;
        }
        default:
        {
            int r = cbring_callback(w->ring, w->id + 1, ctx, INTERNET_STATUS_REQUEST_COMPLETE, &ar,
                                    (uint32_t)sizeof ar);
            w->accepted += r == CBRING_PUSHED || r == CBRING_SPILLED;
            break;
        }
        }
    }
    return NULL;
}


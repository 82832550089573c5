/* Concurrent downloads through a real WinINet in asynchronous mode, with
 * the status callback a cbring.Ring registers, checked from the drained ring.
 *
 * Built with mingw-w64 and run under Wine by tests/windows/run-under-wine.sh
 * (it runs as well on Windows).  It includes src/cbring/_slots.h, so the
 * callback WinINet calls is slot 0's, the very function Ring.register hands
 * to InternetSetStatusCallback, and cbr_slot_register is the call it makes.
 *
 *     wininet_download.exe [-v] URL=SIZE ... [URL=refused ...]
 *
 * Every URL is opened at once with InternetOpenUrl (dwContext = its index +
 * 1) and read with InternetReadFile; the consumer drives each request only
 * from the records it drains.  Byte j of the k-th URL's body must be
 * (j * 7 + k * 13) % 251.  A URL marked "refused" points at a closed port.
 * Checked for every request, in ring order:
 *   - HANDLE_CREATED carrying the new handle (WinINet passes the bare
 *     HINTERNET, recorded as kind "handle"; an INTERNET_ASYNC_RESULT would
 *     do too), before any REQUEST_COMPLETE of the request;
 *   - the open's REQUEST_COMPLETE: dwResult that handle, dwError 0 (for a
 *     refused URL: dwResult 0, dwError ERROR_INTERNET_CANNOT_CONNECT);
 *   - each pending read's REQUEST_COMPLETE: dwResult TRUE, dwError 0;
 *   - HTTP status 200, the body's size and every byte of it;
 *   - HANDLE_CLOSING, carrying the handle, for every handle created, and
 *     nothing of the request after it;
 * and for the ring: records in position order, every call counted once
 * (pushed == drained, nothing dropped or late).  Exit status 0 only if all
 * of it held; at most 60 seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_slots.h" /* cbring's status callbacks and cbr_slot_register */

#define MAX_REQUESTS 32
#define MAX_HANDLES 4
#define READ_CHUNK 16384
#define DEADLINE_MS 60000

enum state { OPENING, READING, READ_PENDING, CLOSING, DONE, FAILED };
static const char *const state_names[] = {"opening", "reading", "read pending",
                                          "closing", "done", "failed"};

typedef struct request {
    const char *url;
    int refused;              /* expect ERROR_INTERNET_CANNOT_CONNECT */
    unsigned long long size;  /* expected body size */
    unsigned k;               /* index: pattern seed; dwContext is k + 1 */
    enum state state;
    HINTERNET handle;         /* the URL handle, from the open's REQUEST_COMPLETE */
    uint64_t created[MAX_HANDLES], closed[MAX_HANDLES];
    uint64_t parents[MAX_HANDLES];  /* the handles HANDLE_CREATED came on: InternetOpenUrl's own */
    unsigned n_created, n_closed, n_parents, n_parents_closed, n_complete, n_events;
    DWORD got;                /* InternetReadFile's count: written by WinINet when a read completes */
    unsigned long long received;
    unsigned char buf[READ_CHUNK];
} request;

static request requests[MAX_REQUESTS];
static unsigned n_requests;
static int verbose, failures;

#define FAIL(r, ...)                                                          \
    do {                                                                      \
        fprintf(stderr, "FAIL %s: ", (r) ? (r)->url : "ring");                \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        failures++;                                                           \
        if (r) (r)->state = FAILED;                                           \
    } while (0)

static const char *status_name(uint32_t s)
{
    switch (s) {
    case INTERNET_STATUS_RESOLVING_NAME: return "RESOLVING_NAME";
    case INTERNET_STATUS_NAME_RESOLVED: return "NAME_RESOLVED";
    case INTERNET_STATUS_CONNECTING_TO_SERVER: return "CONNECTING_TO_SERVER";
    case INTERNET_STATUS_CONNECTED_TO_SERVER: return "CONNECTED_TO_SERVER";
    case INTERNET_STATUS_SENDING_REQUEST: return "SENDING_REQUEST";
    case INTERNET_STATUS_REQUEST_SENT: return "REQUEST_SENT";
    case INTERNET_STATUS_RECEIVING_RESPONSE: return "RECEIVING_RESPONSE";
    case INTERNET_STATUS_RESPONSE_RECEIVED: return "RESPONSE_RECEIVED";
    case INTERNET_STATUS_CLOSING_CONNECTION: return "CLOSING_CONNECTION";
    case INTERNET_STATUS_CONNECTION_CLOSED: return "CONNECTION_CLOSED";
    case INTERNET_STATUS_HANDLE_CREATED: return "HANDLE_CREATED";
    case INTERNET_STATUS_HANDLE_CLOSING: return "HANDLE_CLOSING";
    case INTERNET_STATUS_REQUEST_COMPLETE: return "REQUEST_COMPLETE";
    case INTERNET_STATUS_REDIRECT: return "REDIRECT";
    case INTERNET_STATUS_STATE_CHANGE: return "STATE_CHANGE";
    default: return "other";
    }
}

static int has(const uint64_t *list, unsigned n, uint64_t h)
{
    unsigned i;
    for (i = 0; i < n; i++)
        if (list[i] == h)
            return 1;
    return 0;
}

static void check_chunk(request *r, const unsigned char *p, DWORD n)
{
    DWORD i;
    for (i = 0; i < n; i++) {
        unsigned long long j = r->received + i;
        if (p[i] != (unsigned char)((j * 7 + r->k * 13) % 251)) {
            FAIL(r, "byte %llu is %u, expected %u", j, p[i],
                 (unsigned)((j * 7 + r->k * 13) % 251));
            return;
        }
    }
    r->received += n;
    if (r->received > r->size)
        FAIL(r, "body longer than %llu bytes", r->size);
}

static void start_close(request *r)
{
    HINTERNET h = r->handle;
    r->state = CLOSING;
    if (!InternetCloseHandle(h))
        FAIL(r, "InternetCloseHandle failed with %lu", (unsigned long)GetLastError());
}

/* The body is read here, on the consumer's thread: synchronously while
 * WinINet has data, until a read is pending (its REQUEST_COMPLETE resumes
 * us) or the body ends. */
static void read_body(request *r)
{
    unsigned rounds;
    for (rounds = 0; rounds < 100000 && r->state == READING; rounds++) {
        r->got = 0;
        if (InternetReadFile(r->handle, r->buf, sizeof r->buf, &r->got)) {
            if (r->got == 0) {
                if (r->received != r->size)
                    FAIL(r, "body is %llu bytes, expected %llu", r->received, r->size);
                else
                    start_close(r);
                return;
            }
            check_chunk(r, r->buf, r->got);
        } else if (GetLastError() == ERROR_IO_PENDING) {
            r->state = READ_PENDING;
        } else {
            FAIL(r, "InternetReadFile failed with %lu", (unsigned long)GetLastError());
        }
    }
}

static void on_open_complete(request *r, const cbr_record *rec)
{
    if (r->refused) {
        if (rec->result != 0 || rec->error != ERROR_INTERNET_CANNOT_CONNECT)
            FAIL(r, "open completed with dwResult %#llx, dwError %u; expected 0 and %u",
                 (unsigned long long)rec->result, rec->error, ERROR_INTERNET_CANNOT_CONNECT);
        else if (r->n_created == 0)
            r->state = DONE;
        else {
            /* the failed open's handle is still ours to close */
            r->handle = (HINTERNET)(uintptr_t)r->created[0];
            start_close(r);
        }
        return;
    }
    if (rec->result == 0 || rec->error != 0) {
        FAIL(r, "open completed with dwResult %#llx, dwError %u",
             (unsigned long long)rec->result, rec->error);
        return;
    }
    if (!has(r->created, r->n_created, rec->result)) {
        FAIL(r, "open completed with handle %#llx, which no HANDLE_CREATED announced",
             (unsigned long long)rec->result);
        return;
    }
    r->handle = (HINTERNET)(uintptr_t)rec->result;
    {
        DWORD code = 0, len = sizeof code;
        if (!HttpQueryInfoA(r->handle, HTTP_QUERY_STATUS_CODE | HTTP_QUERY_FLAG_NUMBER, &code,
                            &len, NULL) || code != 200) {
            FAIL(r, "HTTP status %lu (HttpQueryInfo error %lu)", (unsigned long)code,
                 (unsigned long)GetLastError());
            return;
        }
    }
    r->state = READING;
}

static void on_record(const cbr_record *rec)
{
    request *r;
    if (rec->context == 0 || rec->context > n_requests) {
        FAIL((request *)NULL, "record with unknown dwContext %llu (status %u)",
             (unsigned long long)rec->context, rec->status);
        return;
    }
    r = &requests[rec->context - 1];
    r->n_events++;
    if (verbose)
        printf("  ctx %llu %-20s handle %#llx result %#llx error %u len %u%s\n",
               (unsigned long long)rec->context, status_name(rec->status),
               (unsigned long long)rec->handle, (unsigned long long)rec->result, rec->error,
               rec->length, rec->flags & CBR_FLAG_SPILLED ? " (spilled)" : "");
    /* InternetOpenUrl's hidden connection handle may report its closing
     * (Wine's does not), possibly after the request's own */
    if (rec->status == INTERNET_STATUS_HANDLE_CLOSING && rec->kind == CBR_INFO_HANDLE
        && has(r->parents, r->n_parents, rec->result)
        && !has(r->created, r->n_created, rec->result) && r->n_parents_closed < r->n_parents
        && (r->state == CLOSING || r->state == DONE)) {
        r->n_parents_closed++;
        return;
    }
    if (r->state == DONE || r->state == FAILED) {
        if (r->state == DONE)
            FAIL(r, "%s after the request was done", status_name(rec->status));
        return;
    }
    switch (rec->status) {
    case INTERNET_STATUS_HANDLE_CREATED:
        /* WinINet passes the bare handle; an INTERNET_ASYNC_RESULT is what the docs say */
        if ((rec->kind != CBR_INFO_HANDLE && rec->kind != CBR_INFO_ASYNC_RESULT)
            || rec->error != 0 || rec->result == 0)
            FAIL(r, "HANDLE_CREATED for %#llx decoded as kind %u, handle %#llx, dwError %u",
                 (unsigned long long)rec->handle, rec->kind, (unsigned long long)rec->result,
                 rec->error);
        else if (r->n_created == MAX_HANDLES)
            FAIL(r, "more than %d handles created", MAX_HANDLES);
        else {
            r->created[r->n_created++] = rec->result;
            if (rec->handle != 0 && !has(r->parents, r->n_parents, rec->handle))
                r->parents[r->n_parents++] = rec->handle;
        }
        break;
    case INTERNET_STATUS_REQUEST_COMPLETE:
        r->n_complete++;
        if (rec->kind != CBR_INFO_ASYNC_RESULT) {
            FAIL(r, "REQUEST_COMPLETE decoded as kind %u (flags %u)", rec->kind, rec->flags);
        } else if (r->state == OPENING) {
            if (r->n_created == 0 && !r->refused)
                FAIL(r, "REQUEST_COMPLETE before HANDLE_CREATED");
            else
                on_open_complete(r, rec);
        } else if (r->state == READ_PENDING) {
            if (rec->result != TRUE || rec->error != 0) {
                FAIL(r, "read completed with dwResult %llu, dwError %u",
                     (unsigned long long)rec->result, rec->error);
            } else {
                check_chunk(r, r->buf, r->got);
                if (r->state == READ_PENDING)
                    r->state = READING;
            }
        } else {
            FAIL(r, "REQUEST_COMPLETE while %s", state_names[r->state]);
        }
        break;
    case INTERNET_STATUS_HANDLE_CLOSING:
        if (rec->kind != CBR_INFO_HANDLE || rec->result != rec->handle)
            FAIL(r, "HANDLE_CLOSING for %#llx decoded as kind %u, handle %#llx",
                 (unsigned long long)rec->handle, rec->kind, (unsigned long long)rec->result);
        else if (!has(r->created, r->n_created, rec->result))
            FAIL(r, "HANDLE_CLOSING for %#llx, which no HANDLE_CREATED announced",
                 (unsigned long long)rec->result);
        else if (has(r->closed, r->n_closed, rec->result))
            FAIL(r, "HANDLE_CLOSING twice for %#llx", (unsigned long long)rec->result);
        else if (r->state != CLOSING)
            FAIL(r, "HANDLE_CLOSING while %s", state_names[r->state]);
        else {
            r->closed[r->n_closed++] = rec->result;
            if (r->n_closed == r->n_created)
                r->state = DONE;
        }
        break;
    default:
        break;
    }
}

static unsigned events;

/* Drains everything ready and handles it in ring order. */
static void consume(cbr_ring *ring)
{
    static uint32_t last_seq;
    static unsigned spilled_seen;
    cbr_record batch[64];
    size_t n, j;
    while ((n = cbr_ring_drain(ring, batch, 64)) > 0) {
        for (j = 0; j < n; j++) {
            const cbr_record *rec = &batch[j];
            /* a record carries its ring position + 1: consecutive, but for
             * records that came through the overflow list (seq 0) in between */
            if (rec->flags & CBR_FLAG_SPILLED) {
                spilled_seen++;
            } else {
                if (rec->seq != last_seq + 1 + spilled_seen)
                    FAIL((request *)NULL, "record seq %u after %u (+%u spilled): out of order",
                         rec->seq, last_seq, spilled_seen);
                last_seq = rec->seq;
                spilled_seen = 0;
            }
            events++;
            on_record(rec);
        }
    }
}

static int parse_args(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        char *eq;
        request *r;
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
            continue;
        }
        eq = strrchr(argv[i], '=');
        if (eq == NULL || n_requests == MAX_REQUESTS) {
            fprintf(stderr, "usage: %s [-v] URL=SIZE|URL=refused ... (at most %d)\n", argv[0],
                    MAX_REQUESTS);
            return -1;
        }
        *eq = '\0';
        r = &requests[n_requests];
        r->url = argv[i];
        r->k = n_requests++;
        if (strcmp(eq + 1, "refused") == 0)
            r->refused = 1;
        else
            r->size = strtoull(eq + 1, NULL, 10);
    }
    return n_requests ? 0 : -1;
}

int main(int argc, char **argv)
{
    cbr_ring *ring = cbr_slot_ring(0);
    cbr_ring_stats st;
    HINTERNET session;
    uintptr_t previous = 1;
    unsigned long error = 0;
    unsigned i, done = 0;
    DWORD start;
    int err;

    setvbuf(stdout, NULL, _IONBF, 0);
    if (parse_args(argc, argv) != 0)
        return 2;
    /* 64 slots: a megabyte's reads lap the ring many times */
    if ((err = cbr_ring_init(ring, 64, CBR_OVERFLOW_SPILL, 0, 0)) != 0) {
        fprintf(stderr, "cbr_ring_init failed: %d\n", err);
        return 1;
    }
    session = InternetOpenA("cbring-wine-test", INTERNET_OPEN_TYPE_DIRECT, NULL, NULL,
                            INTERNET_FLAG_ASYNC);
    if (session == NULL) {
        fprintf(stderr, "InternetOpen failed with %lu\n", (unsigned long)GetLastError());
        return 1;
    }
    if (cbr_slot_register((uintptr_t)session, 0, &previous, &error) != 1 || previous != 0) {
        fprintf(stderr, "cbr_slot_register failed: error %lu, previous %#llx\n", error,
                (unsigned long long)previous);
        return 1;
    }
    printf("wininet_download: session %p, cbring callback %p registered, %u requests\n",
           (void *)session, (void *)cbr_slot_callback(0), n_requests);

    start = GetTickCount();
    for (i = 0; i < n_requests; i++) {
        request *r = &requests[i];
        HINTERNET h = InternetOpenUrlA(session, r->url, NULL, 0,
                                       INTERNET_FLAG_RELOAD | INTERNET_FLAG_NO_CACHE_WRITE
                                           | INTERNET_FLAG_PRAGMA_NOCACHE,
                                       (DWORD_PTR)(i + 1));
        if (h != NULL) {
            /* completed at once: no REQUEST_COMPLETE will come for the open */
            r->handle = h;
            r->state = READING;
        } else if (GetLastError() != ERROR_IO_PENDING) {
            FAIL(r, "InternetOpenUrl failed with %lu", (unsigned long)GetLastError());
        }
    }
    printf("wininet_download: %u InternetOpenUrl calls returned ERROR_IO_PENDING or a handle\n",
           n_requests);

    while (GetTickCount() - start < DEADLINE_MS) {
        for (i = 0, done = 0; i < n_requests; i++) {
            if (requests[i].state == READING)
                read_body(&requests[i]);
            done += requests[i].state == DONE || requests[i].state == FAILED;
        }
        if (done == n_requests)
            break;
        if (cbr_ring_wait(ring, 200))
            consume(ring);
    }

    for (i = 0; i < n_requests; i++) {
        request *r = &requests[i];
        if (r->state != DONE && r->state != FAILED)
            FAIL(r, "unfinished after %d s: %s, %llu of %llu bytes, %u handles created, "
                 "%u closed", DEADLINE_MS / 1000, state_names[r->state], r->received, r->size,
                 r->n_created, r->n_closed);
        else if (r->state == DONE)
            printf("ok %-44s %9llu bytes, %3u records: HANDLE_CREATED x%u, REQUEST_COMPLETE "
                   "x%u, HANDLE_CLOSING x%u%s\n",
                   r->url, r->received, r->n_events, r->n_created, r->n_complete, r->n_closed,
                   r->refused ? " (refused: ERROR_INTERNET_CANNOT_CONNECT)" : "");
    }

    InternetSetStatusCallback(session, NULL);
    InternetCloseHandle(session);
    cbr_ring_close(ring);
    consume(ring); /* anything closing the session reported */
    cbr_ring_get_stats(ring, &st);
    printf("ring: pushed %llu, drained %llu, spilled %llu, dropped %llu, late %llu, "
           "high water %llu of %llu, wakeups %llu\n",
           (unsigned long long)st.pushed, (unsigned long long)st.drained,
           (unsigned long long)st.spilled, (unsigned long long)st.dropped,
           (unsigned long long)st.late, (unsigned long long)st.high_water,
           (unsigned long long)st.capacity, (unsigned long long)st.wakeups);
    if (st.pushed != events || st.drained != events || st.dropped != 0 || st.late != 0)
        FAIL((request *)NULL, "ring counted pushed %llu, drained %llu, dropped %llu, late %llu "
             "for %u records handled", (unsigned long long)st.pushed,
             (unsigned long long)st.drained, (unsigned long long)st.dropped,
             (unsigned long long)st.late, events);
    cbr_ring_destroy(ring);

    if (failures) {
        printf("wininet_download: %d check(s) FAILED\n", failures);
        return 1;
    }
    printf("wininet_download: %u requests, %u status callbacks through the ring, in %lu ms: "
           "all checks passed\n", n_requests, events, (unsigned long)(GetTickCount() - start));
    return 0;
}

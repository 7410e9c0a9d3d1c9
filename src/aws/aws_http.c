#include "aws/aws_http.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/secmem.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void global_init(void) { init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int vg_aws_http_init(vg_err *err)
{
    pthread_once(&init_once, global_init);
    if (init_rc != CURLE_OK)
        return vg_fail(err, VG_E_UNAVAILABLE, "libcurl initialisation failed: %s", curl_easy_strerror(init_rc));
    return 0;
}

void vg_aws_http_buf_init(vg_aws_http_buf *b, size_t cap, bool secret)
{
    memset(b, 0, sizeof *b);
    b->cap = cap;
    b->secret = secret;
}

void vg_aws_http_buf_reset(vg_aws_http_buf *b)
{
    if (b->data != NULL)
        vg_wipe(b->data, b->alloc);
    b->len = 0;
    b->overflow = false;
}

void vg_aws_http_buf_free(vg_aws_http_buf *b)
{
    if (b == NULL || b->data == NULL)
        return;
    vg_wipe(b->data, b->alloc);
    if (b->secret)
        vg_secure_free(b->data);
    else
        free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}

static bool grow(vg_aws_http_buf *b, size_t need)
{
    if (need <= b->alloc)
        return true;
    size_t n = b->alloc ? b->alloc : 1024;
    while (n < need)
        n *= 2;
    if (n > b->cap + 1)
        n = b->cap + 1;
    char *p = b->secret ? vg_secure_alloc(n) : malloc(n);
    if (p == NULL)
        return false;
    if (b->data != NULL) {
        memcpy(p, b->data, b->len);
        vg_wipe(b->data, b->alloc);
        if (b->secret)
            vg_secure_free(b->data);
        else
            free(b->data);
    }
    b->data = p;
    b->alloc = n;
    return true;
}

size_t vg_aws_http_buf_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    vg_aws_http_buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > b->cap) {
        b->overflow = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    if (!grow(b, b->len + n + 1))
        return 0;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

bool vg_aws_http_transient(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

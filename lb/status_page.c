#include "lb/status_page.h"

#include <stdlib.h>
#include <string.h>

extern const char status_page_html[];
extern const size_t status_page_html_len;

void status_page(struct admin_response *out)
{
	out->body = malloc(status_page_html_len + 1);
	if (out->body == NULL) {
		admin_response_error(out, 500, "out of memory");
		return;
	}
	memcpy(out->body, status_page_html, status_page_html_len + 1);
	out->body_len = status_page_html_len;
	out->status = 200;
	out->content_type = STATUS_PAGE_CONTENT_TYPE;
	out->csp = STATUS_PAGE_CSP;
}

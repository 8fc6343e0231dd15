/* msg.c - rendered bytes shared by reference count */
#include "msg.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct msg *
msg_new(const void *p, size_t len)
{
	struct msg *m;

	if (len > UINT32_MAX)
		return NULL;
	m = malloc(sizeof(*m) + len + 1);
	if (m == NULL)
		fatal("%s: out of memory", __func__);
	m->refs = 1;
	m->len = (uint32_t)len;
	memcpy(m->data, p, len);
	m->data[len] = '\0';
	return m;
}

struct msg *
msg_ref(struct msg *m)
{
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return m;
}

void
msg_unref(struct msg *m)
{
	if (m != NULL && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(m);
}

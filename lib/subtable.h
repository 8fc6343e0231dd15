/* subtable.h - the subscription table: routing key -> subscriptions.
 * Readers run inside rcu_read_lock() and never block; writers are
 * serialised by the table and publish copy-on-write arrays, freed after
 * a grace period. */
#ifndef SLUICE_SUBTABLE_H
#define SLUICE_SUBTABLE_H

#include <stddef.h>

struct subtable_ent {
	void	*stream;	/* the stream the subscription belongs to */
	void	*sub;		/* the subscription itself */
};

struct subtable;

struct subtable *subtable_new(void);
/* Call after rcu_barrier(), when no reader is left. */
void subtable_free(struct subtable *st);

/* Writers (any registered thread). add replaces an entry with the same
 * sub; remove returns 0, or -1 if the entry was not there. */
void subtable_add(struct subtable *st, const char *key, void *stream, void *sub);
int subtable_remove(struct subtable *st, const char *key, void *sub);

/* Reader: must be inside rcu_read_lock(); *out stays valid until
 * rcu_read_unlock(). Returns the number of entries. */
size_t subtable_lookup(struct subtable *st, const char *key,
    const struct subtable_ent **out);

size_t subtable_keys(struct subtable *st);
size_t subtable_subs(struct subtable *st);

#endif

/* slab_list.h - circular doubly linked lists of slab states (aslab__mslab), named by a head
 * pointer (NULL when empty): a thread's partial and full slabs of a class, and a class's
 * abandoned slabs. Push inserts at the tail (before the head); rotating is head = head->next.
 * A slab is on at most one list at a time; on_list says which. */
#ifndef ASLAB_MALLOC_SLAB_LIST_H
#define ASLAB_MALLOC_SLAB_LIST_H

#include "heap.h"

static inline void aslab__list_add(aslab__mslab **head, aslab__mslab *m, unsigned list) {
    aslab__mslab *first = *head;
    if (first == NULL) {
        m->prev = m->next = m;
        *head = m;
    } else {
        m->next = first;
        m->prev = first->prev;
        first->prev->next = m;
        first->prev = m;
    }
    m->on_list = (uint8_t)list;
}

/* To the head: the next slab a scan from the head looks at. */
static inline void aslab__list_add_first(aslab__mslab **head, aslab__mslab *m, unsigned list) {
    aslab__list_add(head, m, list);
    *head = m;
}

static inline void aslab__list_del(aslab__mslab **head, aslab__mslab *m) {
    if (m->next == m) {
        *head = NULL;
    } else {
        m->prev->next = m->next;
        m->next->prev = m->prev;
        if (*head == m) *head = m->next;
    }
    m->prev = m->next = NULL;
    m->on_list = ASLAB__ON_NONE;
}

#endif

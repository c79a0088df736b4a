/* reach.c: whether a tensor holds a reference to another through autograd
 * state: its .grad, its grad_fn, and from a node the nodes it points at,
 * the tensors it saved and the leaf its sink holds. Reference counts never
 * free a cycle, so record.c refuses a .grad assignment that reaches back to
 * the tensor, and before an in-place op hands self a node whose graph saved
 * self, it swaps those saves for detached aliases (same storage, so the
 * version check still reports the change; no grad_fn, so no cycle). The
 * walk visits each tensor and node once. */
#include <stdint.h>

#include "autograd.h"

/* An item is a tensor pointer, or a node pointer with the low bit set. */
typedef struct walk {
  lg_ctx *ctx;
  uintptr_t *stack, *seen; /* seen: open addressing, 0 = empty slot */
  size_t top, stack_cap, n_seen, seen_cap;
  bool failed;
  lg_tensor *unsave; /* saves of this tensor become detached aliases */
} walk;

static size_t slot_of(uintptr_t item, size_t cap) {
  return (size_t)((item >> 3) * 0x9e3779b97f4a7c15u) & (cap - 1);
}

static bool seen_insert(walk *w, uintptr_t item) {
  if (2 * (w->n_seen + 1) > w->seen_cap) { /* grow to keep it half empty */
    size_t cap = w->seen_cap ? 2 * w->seen_cap : 64;
    uintptr_t *slots = lg_mem_alloc(w->ctx, cap * sizeof *slots);
    if (!slots) return w->failed = true, false;
    for (size_t i = 0; i < cap; i++) slots[i] = 0;
    for (size_t i = 0; i < w->seen_cap; i++) {
      if (!w->seen[i]) continue;
      size_t k = slot_of(w->seen[i], cap);
      while (slots[k]) k = (k + 1) & (cap - 1);
      slots[k] = w->seen[i];
    }
    if (w->seen) lg_mem_free(w->ctx, w->seen, w->seen_cap * sizeof *slots);
    w->seen = slots;
    w->seen_cap = cap;
  }
  size_t k = slot_of(item, w->seen_cap);
  while (w->seen[k]) {
    if (w->seen[k] == item) return false;
    k = (k + 1) & (w->seen_cap - 1);
  }
  w->seen[k] = item;
  w->n_seen++;
  return true;
}

/* Queues an item not visited yet (NULL pointers are skipped). */
static void visit(walk *w, const void *p, bool is_node) {
  if (!p || w->failed) return;
  uintptr_t item = (uintptr_t)p | (uintptr_t)is_node;
  if (!seen_insert(w, item)) return;
  if (w->top == w->stack_cap) {
    size_t cap = w->stack_cap ? 2 * w->stack_cap : 64;
    uintptr_t *stack = lg_mem_alloc(w->ctx, cap * sizeof *stack);
    if (!stack) {
      w->failed = true;
      return;
    }
    for (size_t i = 0; i < w->top; i++) stack[i] = w->stack[i];
    if (w->stack) lg_mem_free(w->ctx, w->stack, w->stack_cap * sizeof *stack);
    w->stack = stack;
    w->stack_cap = cap;
  }
  w->stack[w->top++] = item;
}

/* Queues a saved tensor, or swaps a save of w->unsave for an alias. */
static void visit_saved(walk *w, lg_tensor **slot) {
  if (*slot && *slot == w->unsave) {
    lg_tensor *t = *slot, *alias = NULL;
    if (lg_tensor_view_of(w->ctx, t, t->ndim, t->sizes, t->strides,
                          t->offset, &alias)) {
      w->failed = true;
      return;
    }
    *slot = lg_hold(alias);
    lg_tensor_release(alias);
    lg_unhold(t);
    return;
  }
  visit(w, *slot, false);
}

/* Queues what a node holds references to. */
static void visit_node(walk *w, lg_node *n) {
  for (int i = 0; i < n->n_inputs; i++) {
    visit(w, n->edges[i].node, true);
    if (n->saved) visit_saved(w, &n->saved[i]);
  }
  for (int k = 0; k < n->n_outputs; k++) {
    if (n->saved_outputs) visit_saved(w, &n->saved_outputs[k]);
    if (n->grad_buffer) visit(w, n->grad_buffer[k], false);
  }
  visit(w, n->leaf, false);
}

static lg_status walk_from(lg_ctx *ctx, int n, lg_tensor *const *from,
                           const lg_tensor *target, lg_tensor *unsave,
                           bool *reaches) {
  walk w = {ctx, NULL, NULL, 0, 0, 0, 0, false, unsave};
  *reaches = false;
  for (int i = 0; i < n; i++) {
    if (from[i] == target) *reaches = true;
    visit(&w, from[i], false);
  }
  /* the walk meets a tensor only through a holding slot (or as a start),
   * so it can stop once nothing holds target any more */
  while (w.top > 0 && !w.failed && !*reaches && target->autograd_holds > 0) {
    uintptr_t item = w.stack[--w.top];
    if (item & 1) {
      visit_node(&w, (lg_node *)(item & ~(uintptr_t)1));
      continue;
    }
    const lg_tensor *t = (const lg_tensor *)item;
    const lg_autograd_meta *m = t->autograd;
    if (t == target) *reaches = true;
    else if (m) {
      visit(&w, m->grad, false);
      visit(&w, m->grad_fn, true);
    }
  }
  if (w.stack) lg_mem_free(ctx, w.stack, w.stack_cap * sizeof *w.stack);
  if (w.seen) lg_mem_free(ctx, w.seen, w.seen_cap * sizeof *w.seen);
  if (w.failed)
    return lg_fail(ctx, LG_ERR_MEMORY,
                   "autograd: out of memory while checking for a reference "
                   "cycle");
  return LG_OK;
}

lg_status lg_autograd_reaches(lg_ctx *ctx, lg_tensor *from,
                              const lg_tensor *target, bool *reaches) {
  return walk_from(ctx, 1, &from, target, NULL, reaches);
}

lg_status lg_autograd_unsave(lg_ctx *ctx, int n, lg_tensor *const *from,
                             lg_tensor *target, bool *reaches) {
  return walk_from(ctx, n, from, target, target, reaches);
}

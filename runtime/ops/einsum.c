/* einsum.c: lg_einsum, Einstein summation over any number of operands as a
 * composite of existing differentiable ops (permute, reshape, expand, sum,
 * index_select, mul, matmul), so autograd, higher derivatives, jvp and vmap
 * come from those ops' rules.
 *
 * The spec follows torch.einsum: a term per operand of letters (a-z, A-Z)
 * and at most one "...", separated by commas, then optionally "->" and the
 * output term. Without "->" the output is "..." followed by the letters
 * that occur exactly once, in ASCII order (upper case first). A letter
 * repeated within a term takes the diagonal; dims of size 1 broadcast
 * against a letter's size elsewhere; letters absent from the output are
 * summed.
 *
 * Plan: each operand is first reduced on its own (diagonals, then sums of
 * the letters no other term or the output needs); then, while more than
 * one remains, the pair whose result is smallest is contracted (greedy;
 * ties go to the first pair; with two operands there is no choice). A pair
 * contraction with summed letters is one matmul, batched over the letters
 * both keep: (batch, left, summed) @ (batch, summed, right); without summed
 * letters it is a broadcasting mul. The last term is summed and permuted
 * into the output's order.
 *
 * A repeated letter's diagonal is an index_select of the flattened pair
 * of dims (a copy; the op table has no strided diagonal view yet).
 *
 * Labels: letters are 0..51 ('A'..'Z', 'a'..'z'); the broadcast dims of
 * "..." are N_LETTERS + k for the k-th of the widest ellipsis, right
 * aligned (an operand with fewer ellipsis dims has the last ones).
 */
#include <string.h>

#include "core.h"

#define N_LETTERS 52
#define N_LABELS (N_LETTERS + LG_MAX_DIMS)
#define ELLIPSIS (-1) /* a token of a parsed term */

/* One term: its tokens as parsed, then its tensor and dim labels. */
typedef struct term {
  int n_tokens;
  int tokens[LG_MAX_DIMS + 1]; /* letters 0..51 or ELLIPSIS */
  lg_tensor *t;                /* owned; NULL once merged into another */
  int n;
  int labels[LG_MAX_DIMS];
} term;

typedef struct einsum {
  lg_ctx *ctx;
  const char *spec;
  int n_terms, n_ellipsis;
  term *terms;
  term out;
  int64_t size[N_LABELS]; /* -1: not seen */
} einsum;

/* Fails with "einsum: spec "...": <what>". */
#define SPEC_FAIL(e, fmt, ...)                                                \
  lg_fail((e)->ctx, LG_ERR_ARG, "einsum: spec \"%s\": " fmt, (e)->spec,      \
          __VA_ARGS__)

static int letter_label(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -1;
}

static char label_letter(int label) {
  return (char)(label < 26 ? 'A' + label : 'a' + (label - 26));
}

/* Appends one token to tm (position pos of the spec, for messages). */
static lg_status add_token(einsum *e, term *tm, int token, int which,
                           size_t pos) {
  if (token == ELLIPSIS)
    for (int i = 0; i < tm->n_tokens; i++)
      if (tm->tokens[i] == ELLIPSIS)
        return SPEC_FAIL(e, "a second \"...\" in %s%d (at character %zu)",
                         which < 0 ? "the output" : "term ",
                         which < 0 ? 0 : which + 1, pos + 1);
  if (tm->n_tokens > LG_MAX_DIMS)
    return SPEC_FAIL(e, "more than %d subscripts in one term", LG_MAX_DIMS);
  tm->tokens[tm->n_tokens++] = token;
  return LG_OK;
}

/* Parses the spec into e->terms (n_terms must match) and e->out; sets
 * *explicit_out when "->" is present. */
static lg_status parse(einsum *e, int n_operands, bool *explicit_out) {
  const char *s = e->spec;
  int which = 0; /* the term being read; -1: the output */
  lg_status st = LG_OK;
  *explicit_out = false;
  for (size_t i = 0; s[i] && !st; i++) {
    char c = s[i];
    term *tm = which < 0 ? &e->out : which < n_operands ? &e->terms[which]
                                                        : NULL;
    if (c == ' ' || c == '\t') continue;
    if (c == ',') {
      if (which < 0)
        return SPEC_FAIL(e, "a ',' in the output term (at character %zu)",
                         i + 1);
      which++;
    } else if (c == '-') {
      if (s[i + 1] != '>')
        return SPEC_FAIL(e, "'-' not followed by '>' (at character %zu)",
                         i + 1);
      if (which < 0) return SPEC_FAIL(e, "a second \"->\"%s", "");
      e->n_terms = which + 1;
      which = -1, i++;
      *explicit_out = true;
    } else if (c == '.') {
      if (s[i + 1] != '.' || s[i + 2] != '.')
        return SPEC_FAIL(e, "a '.' that does not start \"...\" (at "
                         "character %zu)", i + 1);
      if (tm) st = add_token(e, tm, ELLIPSIS, which, i);
      i += 2;
    } else if (letter_label(c) >= 0) {
      if (tm) st = add_token(e, tm, letter_label(c), which, i);
    } else {
      return SPEC_FAIL(e, "invalid character '%c' at %zu (subscripts are "
                       "letters a-z, A-Z and \"...\")", c, i + 1);
    }
  }
  if (st) return st;
  if (!*explicit_out) e->n_terms = which + 1;
  if (e->n_terms != n_operands)
    return SPEC_FAIL(e, "%d term%s for %d operand%s", e->n_terms,
                     e->n_terms == 1 ? "" : "s", n_operands,
                     n_operands == 1 ? "" : "s");
  return LG_OK;
}

/* Records label's size d in operand i: sizes agree or one of them is 1. */
static lg_status see_size(einsum *e, int label, int64_t d, int i) {
  int64_t *s = &e->size[label];
  if (*s < 0 || *s == 1) {
    if (*s < 0 || d != 1) *s = d;
    return LG_OK;
  }
  if (d == 1 || d == *s) return LG_OK;
  if (label >= N_LETTERS)
    return SPEC_FAIL(e, "the \"...\" dims of operand %d do not broadcast "
                     "(size %lld against %lld)", i + 1, (long long)d,
                     (long long)*s);
  return SPEC_FAIL(e, "subscript '%c' has size %lld in operand %d but %lld "
                   "elsewhere", label_letter(label), (long long)d, i + 1,
                   (long long)*s);
}

/* Gives every operand's dims their labels and checks the sizes. */
static lg_status label_operands(einsum *e, lg_tensor *const *operands) {
  e->n_ellipsis = 0;
  for (int i = 0; i < e->n_terms; i++) {
    term *tm = &e->terms[i];
    int letters = 0, nd = operands[i]->ndim;
    bool has_ellipsis = false;
    for (int k = 0; k < tm->n_tokens; k++)
      if (tm->tokens[k] == ELLIPSIS) has_ellipsis = true;
      else letters++;
    if (letters > nd || (!has_ellipsis && letters != nd))
      return SPEC_FAIL(e, "term %d has %d subscript%s but operand %d has %d "
                       "dim%s", i + 1, letters, letters == 1 ? "" : "s",
                       i + 1, nd, nd == 1 ? "" : "s");
    if (nd - letters > e->n_ellipsis) e->n_ellipsis = nd - letters;
  }
  for (int l = 0; l < N_LABELS; l++) e->size[l] = -1;
  lg_status st = LG_OK;
  for (int i = 0; i < e->n_terms && !st; i++) {
    term *tm = &e->terms[i];
    lg_tensor *x = operands[i];
    int letters = 0;
    for (int k = 0; k < tm->n_tokens; k++) letters += tm->tokens[k] != ELLIPSIS;
    int ell = x->ndim - letters;
    tm->n = 0;
    for (int k = 0; k < tm->n_tokens; k++) {
      if (tm->tokens[k] != ELLIPSIS) {
        tm->labels[tm->n++] = tm->tokens[k];
        continue;
      }
      for (int j = 0; j < ell; j++)
        tm->labels[tm->n++] = N_LETTERS + e->n_ellipsis - ell + j;
    }
    for (int d = 0; d < x->ndim && !st; d++) {
      for (int c = 0; c < d; c++) /* a diagonal needs equal sizes */
        if (tm->labels[c] == tm->labels[d] && x->sizes[c] != x->sizes[d])
          return SPEC_FAIL(e, "subscript '%c' is repeated in operand %d over "
                           "dims of sizes %lld and %lld",
                           label_letter(tm->labels[d]), i + 1,
                           (long long)x->sizes[c], (long long)x->sizes[d]);
      st = see_size(e, tm->labels[d], x->sizes[d], i);
    }
  }
  return st;
}

/* The output labels, explicit (checked) or implicit. */
static lg_status output_labels(einsum *e, bool explicit_out) {
  int count[N_LABELS] = {0};
  for (int i = 0; i < e->n_terms; i++)
    for (int d = 0; d < e->terms[i].n; d++) count[e->terms[i].labels[d]]++;
  term *o = &e->out;
  if (!explicit_out) {
    o->n = 0;
    for (int k = 0; k < e->n_ellipsis; k++) o->labels[o->n++] = N_LETTERS + k;
    for (int l = 0; l < N_LETTERS; l++)
      if (count[l] == 1) {
        if (o->n == LG_MAX_DIMS)
          return SPEC_FAIL(e, "the output would have more than %d dims",
                           LG_MAX_DIMS);
        o->labels[o->n++] = l;
      }
    return LG_OK;
  }
  bool seen[N_LABELS] = {false};
  o->n = 0;
  for (int k = 0; k < o->n_tokens; k++) {
    int tok = o->tokens[k];
    if (tok == ELLIPSIS) {
      for (int j = 0; j < e->n_ellipsis; j++)
        if (o->n < LG_MAX_DIMS) o->labels[o->n++] = N_LETTERS + j;
      continue;
    }
    if (!count[tok])
      return SPEC_FAIL(e, "output subscript '%c' does not occur in any "
                       "input term", label_letter(tok));
    if (seen[tok])
      return SPEC_FAIL(e, "output subscript '%c' occurs more than once",
                       label_letter(tok));
    seen[tok] = true;
    if (o->n == LG_MAX_DIMS)
      return SPEC_FAIL(e, "the output would have more than %d dims",
                       LG_MAX_DIMS);
    o->labels[o->n++] = tok;
  }
  return LG_OK;
}

/* ---- ops on terms ------------------------------------------------------- */

/* Replaces tm's tensor by the result of op on it (params p). */
static lg_status term_op(einsum *e, term *tm, lg_op op, const lg_params *p) {
  lg_tensor *r = NULL;
  lg_status st = lg_run1(e->ctx, op, tm->t, p, &r);
  if (st) return st;
  lg_tensor_release(tm->t);
  tm->t = r;
  return LG_OK;
}

/* Permutes tm's dims into the order perm (n of them), labels too. */
static lg_status term_permute(einsum *e, term *tm, const int *perm) {
  lg_params p = {0};
  int labels[LG_MAX_DIMS];
  p.n_ints = tm->n;
  for (int d = 0; d < tm->n; d++) {
    p.ints[d] = perm[d];
    labels[d] = tm->labels[perm[d]];
  }
  memcpy(tm->labels, labels, sizeof labels);
  return term_op(e, tm, LG_OP_PERMUTE, &p);
}

/* Reshapes tm to n sizes (labels are the caller's business). */
static lg_status term_reshape(einsum *e, term *tm, int n,
                              const int64_t *sizes) {
  lg_params p = {0};
  p.n_ints = n;
  memcpy(p.ints, sizes, sizeof(int64_t) * (size_t)n);
  return term_op(e, tm, LG_OP_RESHAPE, &p);
}

/* The diagonal of tm over its dims a < b (equal labels and sizes): both
 * moved last, flattened, and every (size + 1)-th element selected. */
static lg_status take_diagonal(einsum *e, term *tm, int a, int b) {
  int64_t n = tm->t->sizes[a]; /* == sizes[b], checked by label_operands */
  int perm[LG_MAX_DIMS], k = 0, label = tm->labels[a];
  for (int d = 0; d < tm->n; d++)
    if (d != a && d != b) perm[k++] = d;
  perm[k++] = a;
  perm[k++] = b;
  lg_status st = term_permute(e, tm, perm);
  int64_t sizes[LG_MAX_DIMS];
  for (int d = 0; d < tm->n - 2; d++) sizes[d] = tm->t->sizes[d];
  sizes[tm->n - 2] = n * n;
  if (!st) st = term_reshape(e, tm, tm->n - 1, sizes);
  lg_tensor *index = NULL, *r = NULL;
  if (!st) st = lg_arange(e->ctx, LG_INT64, 1, (double)(n * n + 1),
                          (double)(n + 1), &index);
  if (!st) {
    lg_params p = {0};
    p.dim = tm->n - 2;
    st = lg_run2(e->ctx, LG_OP_INDEX_SELECT, tm->t, index, &p, &r);
  }
  lg_tensor_release(index);
  if (st) return st;
  lg_tensor_release(tm->t);
  tm->t = r;
  tm->n--;
  tm->labels[tm->n - 1] = label;
  return LG_OK;
}

/* Sums tm over the dims whose labels are marked in drop. */
static lg_status sum_labels(einsum *e, term *tm, const bool *drop) {
  lg_params p = {0};
  int k = 0;
  for (int d = 0; d < tm->n; d++) {
    if (drop[tm->labels[d]]) p.ints[p.n_ints++] = d;
    else tm->labels[k++] = tm->labels[d];
  }
  if (p.n_ints == 0) return LG_OK; /* n_ints 0 would sum every dim */
  tm->n = k;
  return term_op(e, tm, LG_OP_SUM, &p);
}

/* Whether label is needed outside terms a and b (b < 0: only a): by the
 * output or another remaining term. */
static bool needed_elsewhere(const einsum *e, int label, int a, int b) {
  for (int d = 0; d < e->out.n; d++)
    if (e->out.labels[d] == label) return true;
  for (int i = 0; i < e->n_terms; i++) {
    if (i == a || i == b || !e->terms[i].t) continue;
    for (int d = 0; d < e->terms[i].n; d++)
      if (e->terms[i].labels[d] == label) return true;
  }
  return false;
}

static bool has_label(const term *tm, int label) {
  for (int d = 0; d < tm->n; d++)
    if (tm->labels[d] == label) return true;
  return false;
}

/* One operand alone: diagonals, broadcast size-1 dims expanded to the
 * label's size, then the sums only it needs. */
static lg_status prepare_term(einsum *e, int i) {
  term *tm = &e->terms[i];
  lg_status st = LG_OK;
  for (int a = 0; a < tm->n && !st; a++)
    for (int b = a + 1; b < tm->n && !st; b++)
      if (tm->labels[a] == tm->labels[b]) {
        st = take_diagonal(e, tm, a, b);
        a = -1; /* the dims moved: look again from the start */
        break;
      }
  if (st) return st;
  bool expand = false;
  lg_params p = {0};
  p.n_ints = tm->n;
  for (int d = 0; d < tm->n; d++) {
    p.ints[d] = e->size[tm->labels[d]];
    expand |= p.ints[d] != tm->t->sizes[d];
  }
  if (expand && (st = term_op(e, tm, LG_OP_EXPAND, &p))) return st;
  bool drop[N_LABELS] = {false};
  for (int d = 0; d < tm->n; d++)
    drop[tm->labels[d]] = !needed_elsewhere(e, tm->labels[d], i, -1);
  return sum_labels(e, tm, drop);
}

/* ---- pair contraction --------------------------------------------------- */

/* Product of the sizes of labels[0..n). */
static int64_t labels_numel(const einsum *e, const int *labels, int n) {
  int64_t v = 1;
  for (int k = 0; k < n; k++) v *= e->size[labels[k]];
  return v;
}

/* The labels the contraction of terms a and b keeps, in the order batch
 * (both), left (a only), right (b only); also the summed ones (both, not
 * needed elsewhere). Returns the number kept. */
static int pair_labels(const einsum *e, int a, int b, int *batch, int *nb,
                       int *left, int *nl, int *right, int *nr, int *sum,
                       int *ns) {
  const term *ta = &e->terms[a], *tb = &e->terms[b];
  *nb = *nl = *nr = *ns = 0;
  for (int d = 0; d < ta->n; d++) {
    int l = ta->labels[d];
    bool keep = needed_elsewhere(e, l, a, b);
    if (has_label(tb, l)) {
      if (keep) batch[(*nb)++] = l;
      else sum[(*ns)++] = l;
    } else {
      left[(*nl)++] = l;
    }
  }
  for (int d = 0; d < tb->n; d++)
    if (!has_label(ta, tb->labels[d])) right[(*nr)++] = tb->labels[d];
  return *nb + *nl + *nr;
}

/* Permutes tm so its labels read groups[0] then groups[1] then groups[2]
 * (every label of tm in exactly one group). */
static lg_status arrange(einsum *e, term *tm, const int *const *groups,
                         const int *counts) {
  int perm[LG_MAX_DIMS], k = 0;
  for (int g = 0; g < 3; g++)
    for (int j = 0; j < counts[g]; j++)
      for (int d = 0; d < tm->n; d++)
        if (tm->labels[d] == groups[g][j]) perm[k++] = d;
  return term_permute(e, tm, perm);
}

/* Contracts term b into term a (b is released). */
static lg_status contract(einsum *e, int a, int b) {
  int batch[LG_MAX_DIMS], left[LG_MAX_DIMS], right[LG_MAX_DIMS],
      sum[LG_MAX_DIMS], nb, nl, nr, ns;
  term *ta = &e->terms[a], *tb = &e->terms[b];
  int kept = pair_labels(e, a, b, batch, &nb, left, &nl, right, &nr, sum, &ns);
  if (kept > LG_MAX_DIMS)
    return SPEC_FAIL(e, "an intermediate result would have %d dims (at most "
                     "%d)", kept, LG_MAX_DIMS);
  const int *ga[3] = {batch, left, sum}, *gb[3] = {batch, sum, right};
  int ca[3] = {nb, nl, ns}, cb[3] = {nb, ns, nr};
  lg_status st = arrange(e, ta, ga, ca);
  if (!st) st = arrange(e, tb, gb, cb);
  int64_t bs = labels_numel(e, batch, nb), ms = labels_numel(e, left, nl),
          ks = labels_numel(e, sum, ns), rs = labels_numel(e, right, nr);
  int64_t sa[3], sb[3];
  int lead = nb > 0; /* the batch dim, when there is one */
  sa[0] = sb[0] = bs;
  sa[lead] = ms, sa[lead + 1] = ns ? ks : 1;
  sb[lead] = ns ? ks : 1, sb[lead + 1] = rs;
  if (!st) st = term_reshape(e, ta, lead + 2, sa);
  if (!st) st = term_reshape(e, tb, lead + 2, sb);
  lg_tensor *r = NULL;
  /* with summed labels a (batched) matmul; without, an outer product by
   * broadcasting, (.., m, 1) * (.., 1, n) */
  if (!st) st = lg_run2(e->ctx, ns ? LG_OP_MATMUL : LG_OP_MUL, ta->t, tb->t,
                        NULL, &r);
  if (st) return st;
  lg_tensor_release(ta->t);
  lg_tensor_release(tb->t);
  tb->t = NULL;
  ta->t = r;
  ta->n = 0;
  int64_t sizes[LG_MAX_DIMS];
  const int *groups[3] = {batch, left, right};
  int counts[3] = {nb, nl, nr};
  for (int g = 0; g < 3; g++)
    for (int j = 0; j < counts[g]; j++) {
      sizes[ta->n] = e->size[groups[g][j]];
      ta->labels[ta->n++] = groups[g][j];
    }
  return term_reshape(e, ta, ta->n, sizes);
}

/* The next pair to contract: the one whose result has fewest elements
 * (the first such pair on ties). */
static void greedy_pair(const einsum *e, int *pa, int *pb) {
  int64_t best = -1;
  int batch[LG_MAX_DIMS], left[LG_MAX_DIMS], right[LG_MAX_DIMS],
      sum[LG_MAX_DIMS], nb, nl, nr, ns;
  for (int a = 0; a < e->n_terms; a++) {
    if (!e->terms[a].t) continue;
    for (int b = a + 1; b < e->n_terms; b++) {
      if (!e->terms[b].t) continue;
      pair_labels(e, a, b, batch, &nb, left, &nl, right, &nr, sum, &ns);
      int64_t size = labels_numel(e, batch, nb) * labels_numel(e, left, nl) *
                     labels_numel(e, right, nr);
      if (best < 0 || size < best) best = size, *pa = a, *pb = b;
    }
  }
}

/* Runs the plan on parsed, labelled terms; the result in *out. */
static lg_status run_plan(einsum *e, lg_tensor **out) {
  lg_status st = LG_OK;
  for (int i = 0; i < e->n_terms && !st; i++) st = prepare_term(e, i);
  for (int left = e->n_terms; left > 1 && !st; left--) {
    int a = 0, b = 1;
    greedy_pair(e, &a, &b);
    st = contract(e, a, b);
    if (!st && (st = prepare_term(e, a))) break; /* sums now only a needs */
  }
  if (st) return st;
  term *last = NULL;
  for (int i = 0; i < e->n_terms; i++)
    if (e->terms[i].t) last = &e->terms[i];
  bool drop[N_LABELS] = {false};
  for (int d = 0; d < last->n; d++)
    drop[last->labels[d]] = !has_label(&e->out, last->labels[d]);
  if ((st = sum_labels(e, last, drop))) return st;
  int perm[LG_MAX_DIMS];
  for (int k = 0; k < e->out.n; k++)
    for (int d = 0; d < last->n; d++)
      if (last->labels[d] == e->out.labels[k]) perm[k] = d;
  if ((st = term_permute(e, last, perm))) return st;
  *out = last->t;
  last->t = NULL;
  return LG_OK;
}

lg_status lg_einsum(lg_ctx *ctx, const char *spec, int n,
                    lg_tensor *const *operands, lg_tensor **out) {
  *out = NULL;
  if (n < 1)
    return lg_fail(ctx, LG_ERR_ARG, "einsum: expected at least one operand "
                   "after the spec \"%s\"", spec);
  einsum e = {ctx, spec, 0, 0, NULL, {0}, {0}};
  size_t bytes = sizeof(term) * (size_t)n;
  e.terms = lg_mem_alloc(ctx, bytes);
  if (!e.terms) return lg_fail(ctx, LG_ERR_MEMORY, "einsum: out of memory");
  memset(e.terms, 0, bytes);
  bool explicit_out;
  lg_status st = parse(&e, n, &explicit_out);
  if (!st) st = label_operands(&e, operands);
  if (!st) st = output_labels(&e, explicit_out);
  for (int i = 0; i < n && !st; i++)
    e.terms[i].t = lg_tensor_retain(operands[i]);
  if (!st) st = run_plan(&e, out);
  for (int i = 0; i < n; i++) lg_tensor_release(e.terms[i].t);
  lg_mem_free(ctx, e.terms, bytes);
  return st;
}

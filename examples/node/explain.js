// Explanations from a format 3 model's own outputs, as the Python runtime gives them (runtime/explain.py): per row, the
// columns that pushed hardest toward and away from the predicted class, and the interval. Nothing is recomputed: the
// graph's contributions, logit and intervals are read and ranked.
//
// Toward the predicted class means, for a binary model, along the logit of the second class when it was predicted
// and against it when the first was; for a multinomial model, along the predicted class's logit centred over the
// classes (z_c - mean_k z_k, the reference class's logit being 0), so that the reference class is explained like the
// others. Arithmetic is float32's (Math.fround), as numpy's on the graph's float32 outputs.

import { InputError } from './errors.js';

export const MAX_TOP = 1000;
export const Z_95 = 1.959963984540054; // the normal distribution's 97.5% quantile: the intervals' z

/** ``top`` as the number of columns to name per direction, or an InputError. */
export function checkTop(top) {
  if (!Number.isInteger(top) || top < 1 || top > MAX_TOP) {
    throw new InputError(`top must be a whole number from 1 to ${MAX_TOP}, got ${JSON.stringify(top) ?? String(top)}`);
  }
  return top;
}

/**
 * Each column's contribution toward the predicted class of one row, in logit units. ``contributions``: the graph's
 * output, flat [rows x columns x logits], the row's values from ``offset``; ``label``: the predicted class's index.
 */
export function towardPredicted(label, contributions, columns, logits, offset = 0) {
  const toward = new Array(columns);
  for (let c = 0; c < columns; c++) {
    const at = offset + c * logits;
    if (logits === 1) {
      toward[c] = label === 1 ? contributions[at] : -contributions[at];
      continue;
    }
    // the classes' logits against the reference: 0 for the reference class itself, then the graph's
    let sum = 0;
    for (let l = 0; l < logits; l++) sum = Math.fround(sum + contributions[at + l]);
    const mean = Math.fround(sum / (logits + 1));
    toward[c] = Math.fround((label === 0 ? 0 : contributions[at + label - 1]) - mean);
  }
  return toward;
}

/**
 * The column indices of the ``top`` largest contributions (descending) and of the ``top`` most negative
 * (ascending), as numpy's stable argsort of the negated values gives them (runtime/explain.py ranked): ties keep the
 * columns' order in the first, the reverse in the second.
 */
export function ranked(toward, top) {
  const k = Math.min(top, toward.length);
  const up = (a, b) => toward[a] > toward[b] || (toward[a] === toward[b] && a < b);
  const down = (a, b) => toward[a] < toward[b] || (toward[a] === toward[b] && a > b);
  return [best(toward.length, k, up), best(toward.length, k, down)];
}

/** The ``k`` first of 0 .. n-1 in the order ``before``, by insertion into a list of k (k is small, n may not be). */
function best(n, k, before) {
  const out = [];
  for (let c = 0; c < n; c++) {
    if (out.length === k && !before(c, out[k - 1])) continue;
    let j = out.length === k ? k - 1 : out.length;
    while (j > 0 && before(c, out[j - 1])) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = c;
  }
  return out;
}

/**
 * Row ``i`` of ``rows``' explanation from the graph's outputs (name -> flat values of every row, label as numbers):
 * {label, probabilities, logit, toward, away, interval?}, the shape of the Python runtime's Model.explain.
 */
export function explainRow(model, outputs, i, rows, top) {
  const classes = model.classNames;
  const logits = classes.length - 1;
  const columns = model.featureNames;
  const label = outputs.label[i];
  const toward = towardPredicted(label, outputs.contributions, columns.length, logits, i * columns.length * logits);
  const [up, down] = ranked(toward, top);
  const named = (c) => ({ column: columns[c], contribution: toward[c] });
  const perLogit = (value) => Object.fromEntries(classes.slice(1).map((name, l) => [name, value(i * logits + l)]));
  const row = {
    label: classes[label],
    probabilities: Object.fromEntries(classes.map((name, k) => [name, outputs.probabilities[i * classes.length + k]])),
    logit: perLogit((at) => outputs.logit[at]),
    toward: up.filter((c) => toward[c] > 0).map(named),
    away: down.filter((c) => toward[c] < 0).map(named),
  };
  const se = outputs.logit_se;
  if (se && logits === 1) {
    row.interval = { p_lower: outputs.probability_lower[i], p_upper: outputs.probability_upper[i], logit_se: se[i] };
  } else if (se) {
    // float32 arithmetic, as numpy's on float32 outputs: the interval is logit -+ z * logit_se
    const z = Math.fround(Z_95);
    row.interval = {
      logit_lower: perLogit((at) => Math.fround(outputs.logit[at] - Math.fround(z * se[at]))),
      logit_upper: perLogit((at) => Math.fround(outputs.logit[at] + Math.fround(z * se[at]))),
      logit_se: perLogit((at) => se[at]),
    };
  }
  return row;
}

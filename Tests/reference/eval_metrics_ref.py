#!/usr/bin/env python3
"""Reference values for Tests/FashionEvalTests/MetricsTests.swift, computed the way sklearn does.

sklearn's f1_score(y_true, y_pred, average='macro') with labels=None averages per-class F1 over
sorted(set(y_true) | set(y_pred)); a class with tp + fp + fn = 0 (only possible with an explicit label list,
Kaleido's labels=range(n)) scores 0 (zero_division default). Uses sklearn when installed, else this file's own
implementation, and prints both when it can.
"""


def f1_per_class(y_true, y_pred, labels):
    out = []
    for c in labels:
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == c and p != c)
        d = 2 * tp + fp + fn
        out.append(2 * tp / d if d else 0.0)
    return out


def macro(y_true, y_pred, labels=None):
    labels = sorted(set(y_true) | set(y_pred)) if labels is None else labels
    f = f1_per_class(y_true, y_pred, labels)
    return sum(f) / len(f)


def ranks(scores, pos):
    s = scores[pos]
    neg = [v for j, v in enumerate(scores) if j != pos]
    return 1 + sum(1 for v in neg if v >= s), 1 + sum(1 for v in neg if v > s)


CASES = [
    ([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 4),
    ([0, 0, 1], [0, 2, 1], 5),
    ([0, 1, 2, 2], [0, 1, 1, 1], 3),
]

if __name__ == "__main__":
    try:
        from sklearn.metrics import f1_score
    except ImportError:
        f1_score = None
    for yt, yp, n in CASES:
        acc = sum(t == p for t, p in zip(yt, yp)) / len(yt)
        line = f"truth={yt} pred={yp}: acc={acc:.6f} macroF1={macro(yt, yp):.6f} all={macro(yt, yp, list(range(n))):.6f}"
        if f1_score:
            line += f" sklearn={f1_score(yt, yp, average='macro'):.6f}/{f1_score(yt, yp, average='macro', labels=list(range(n)), zero_division=0):.6f}"
        print(line)
    for row, pos in [([0.9, 0.1, 0.5, 0.3], 0), ([0.2, 0.2, 0.1, 0.2], 0), ([0.1, 0.3, 0.9, 0.0], 2),
                     ([0.4, 0.8, 0.4, 0.9], 0), ([7, 7, 7, 7], 3)]:
        print(f"scores={row} positive={pos}: pessimistic, optimistic rank = {ranks(row, pos)}")

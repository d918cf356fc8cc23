"""Cross-modal alignment metrics: zero-shot classification, the modality gap, and post-hoc alignment.

Everything works on plain numpy arrays of embeddings (rows = samples), so the same code scores
the real OpenAI CLIP, the demo's tiny CLIP, and hand-built embeddings in tests. Cosine-based
quantities always L2-normalise first: CLIP's zero-shot rule is a cosine, and skipping the
normalisation was one of the source reports' mistakes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import orthogonal_procrustes


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.clip(np.linalg.norm(x, axis=axis, keepdims=True), 1e-12, None)


def ensemble_embedding(per_template: np.ndarray) -> np.ndarray:
    """Class embeddings from several prompt templates, shape (T, C, D) -> (C, D).

    Each template's embedding is normalised, averaged over templates, and the mean normalised
    again (CLIP's prompt ensembling); a single template reduces to its normalised embedding.
    """
    per_template = np.asarray(per_template)
    if per_template.ndim != 3:
        raise ValueError(f"expected (templates, classes, dim), got shape {per_template.shape}")
    return l2_normalize(l2_normalize(per_template).mean(axis=0))


def zero_shot_predict(image_emb: np.ndarray, class_emb: np.ndarray) -> np.ndarray:
    """Index of the class whose text embedding has the highest cosine with each image."""
    return np.argmax(l2_normalize(image_emb) @ l2_normalize(class_emb).T, axis=1)


def zero_shot_accuracy(image_emb: np.ndarray, class_emb: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(zero_shot_predict(image_emb, class_emb) == np.asarray(labels)))


def zero_shot_correct_by_prompt_set(image_emb: np.ndarray, labels: np.ndarray,
                                    prompt_emb: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Whether each image is classified right by each prompt set (its (templates, classes, dim) text embeddings):
    the mean is the set's accuracy; per image, two sets can be compared image by image.

    The image embeddings are an input, computed once, so every prompt set scores the same vectors.
    """
    labels = np.asarray(labels)
    return {name: zero_shot_predict(image_emb, ensemble_embedding(emb)) == labels for name, emb in prompt_emb.items()}


def matched_cosine(image_emb: np.ndarray, text_emb: np.ndarray) -> float:
    """Mean cosine of the pairs that belong together (row i with row i)."""
    return float(np.mean(np.sum(l2_normalize(image_emb) * l2_normalize(text_emb), axis=1)))


def unmatched_cosine(image_emb: np.ndarray, text_emb: np.ndarray, labels: np.ndarray) -> float:
    """Mean cosine of pairs whose classes differ (same-class pairs are not true negatives).

    Computed from per-class sums, O(N·D), so the whole 8000-image test set needs no N×N matrix.
    """
    labels = np.asarray(labels)
    img, txt = l2_normalize(image_emb), l2_normalize(text_emb)
    total = img.sum(0) @ txt.sum(0)
    classes, counts = np.unique(labels, return_counts=True)
    same = sum(img[labels == c].sum(0) @ txt[labels == c].sum(0) for c in classes)
    n_different = len(labels) ** 2 - int(np.sum(counts.astype(np.int64) ** 2))
    return float((total - same) / n_different) if n_different else float("nan")


def centroid_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between the two clouds' means (the length of the 'gap vector')."""
    return float(np.linalg.norm(np.asarray(a, np.float64).mean(0) - np.asarray(b, np.float64).mean(0)))


def gap_metrics(image_emb: np.ndarray, text_emb: np.ndarray, labels: np.ndarray,
                normalize: bool) -> dict[str, float]:
    """Modality-gap summary of paired embeddings, on raw or on L2-normalised vectors.

    Cosines are scale-free, so only the centroid distance and the norms depend on ``normalize``.
    """
    img = l2_normalize(image_emb) if normalize else np.asarray(image_emb, np.float64)
    txt = l2_normalize(text_emb) if normalize else np.asarray(text_emb, np.float64)
    return {
        "matched_cosine": matched_cosine(img, txt),
        "unmatched_cosine": unmatched_cosine(img, txt, labels),
        "centroid_distance": centroid_distance(img, txt),
        "image_norm": float(np.linalg.norm(img, axis=1).mean()),
        "text_norm": float(np.linalg.norm(txt, axis=1).mean()),
    }


# --- post-hoc alignment of image embeddings onto text embeddings -------------------------------

@dataclass(frozen=True)
class Aligner:
    """An affine map x -> x @ rotation + shift, applied to L2-normalised image embeddings."""
    name: str
    rotation: np.ndarray
    shift: np.ndarray

    def apply(self, image_emb: np.ndarray) -> np.ndarray:
        return l2_normalize(l2_normalize(image_emb) @ self.rotation + self.shift)


def identity_aligner(dim: int) -> Aligner:
    return Aligner("none", np.eye(dim), np.zeros(dim))


def fit_centroid_shift(image_emb: np.ndarray, text_emb: np.ndarray) -> Aligner:
    """Baseline: translate the image cloud so its centroid lands on the text centroid."""
    img, txt = l2_normalize(image_emb), l2_normalize(text_emb)
    return Aligner("centroid_shift", np.eye(img.shape[1]), txt.mean(0) - img.mean(0))


def fit_procrustes(image_emb: np.ndarray, text_emb: np.ndarray) -> Aligner:
    """Orthogonal R minimising ||X R - Y||_F (scipy), X/Y the normalised image/text rows."""
    rotation, _ = orthogonal_procrustes(l2_normalize(image_emb), l2_normalize(text_emb))
    return Aligner("procrustes", rotation, np.zeros(rotation.shape[1]))


FITTERS = {"none": lambda x, y: identity_aligner(x.shape[1]),
           "centroid_shift": fit_centroid_shift,
           "procrustes": fit_procrustes}


def alignment_scores(aligner: Aligner, image_emb: np.ndarray, text_emb: np.ndarray,
                     labels: np.ndarray, class_emb: np.ndarray) -> dict[str, float]:
    """Matched/unmatched cosine, centroid distance and zero-shot accuracy after ``aligner``."""
    aligned = aligner.apply(image_emb)
    txt = l2_normalize(text_emb)
    return {
        "matched_cosine": matched_cosine(aligned, txt),
        "unmatched_cosine": unmatched_cosine(aligned, txt, labels),
        "centroid_distance": centroid_distance(aligned, txt),
        "zero_shot_accuracy": zero_shot_accuracy(aligned, class_emb, labels),
    }


def _assert_disjoint(fit_rows: np.ndarray, eval_rows: np.ndarray) -> None:
    """Refuse to call a figure held-out when an evaluation row is also a fitting row."""
    seen = {row.tobytes() for row in np.ascontiguousarray(fit_rows, dtype=np.float64)}
    shared = sum(row.tobytes() in seen for row in np.ascontiguousarray(eval_rows, dtype=np.float64))
    if shared:
        raise ValueError(f"{shared} evaluation rows also appear in the fitting rows; "
                         "held-out alignment needs disjoint samples")


def evaluate_alignment(fit: tuple[np.ndarray, np.ndarray, np.ndarray],
                       held_out: tuple[np.ndarray, np.ndarray, np.ndarray], class_emb: np.ndarray,
                       methods=("none", "centroid_shift", "procrustes"),
                       ) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, Aligner]]:
    """Fit each method once on ``fit = (image, text, labels)``; score it on disjoint ``held_out``
    rows and, labelled ``in_sample``, on its own fitting rows (the source reports' protocol,
    which rewards memorising the fitting pairs).

    Returns ``scores[protocol][method]`` and the fitted aligners.
    """
    _assert_disjoint(fit[0], held_out[0])
    aligners = {method: FITTERS[method](fit[0], fit[1]) for method in methods}
    scores = {protocol: {method: alignment_scores(aligner, *rows, class_emb)
                         for method, aligner in aligners.items()}
              for protocol, rows in (("held_out", held_out), ("in_sample", fit))}
    return scores, aligners


def paired_captions(template_emb: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """One caption embedding per image: its class under a template drawn at random per row.

    ``template_emb`` is (templates, classes, dim); drawing templates gives the text side the
    variety of real captions instead of ten repeated class vectors.
    """
    labels = np.asarray(labels)
    templates = np.random.default_rng(seed).integers(0, template_emb.shape[0], size=len(labels))
    return np.asarray(template_emb)[templates, labels]

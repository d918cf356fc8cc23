"""S5 alignment metrics on hand-built embeddings where the right answer is known."""
import numpy as np
import pytest
from scipy.stats import ortho_group

from archlab.metrics import alignment as al


def _unit_rows(rng, n, d):
    return al.l2_normalize(rng.normal(size=(n, d)))


def test_procrustes_recovers_a_known_rotation():
    rng = np.random.default_rng(0)
    x = _unit_rows(rng, 60, 8)
    rotation = ortho_group.rvs(8, random_state=1)
    aligner = al.fit_procrustes(x, x @ rotation)
    np.testing.assert_allclose(aligner.rotation, rotation, atol=1e-10)
    np.testing.assert_allclose(aligner.apply(x), x @ rotation, atol=1e-10)
    assert al.matched_cosine(aligner.apply(x), x @ rotation) == pytest.approx(1.0, abs=1e-12)


def test_held_out_scores_use_only_evaluation_rows_and_fit_uses_only_fitting_rows():
    # fitting rows follow one rotation, evaluation rows another: a held-out score can then only
    # be perfect if the evaluation rows leaked into the fit
    rng = np.random.default_rng(0)
    d, n = 6, 40
    r_fit, r_eval = ortho_group.rvs(d, random_state=2), ortho_group.rvs(d, random_state=3)
    x_fit, x_eval = _unit_rows(rng, n, d), _unit_rows(rng, n, d)
    y_fit, y_eval = x_fit @ r_fit, x_eval @ r_eval
    labels_fit, labels_eval = np.arange(n) % 4, np.arange(n) % 4
    class_emb = _unit_rows(rng, 4, d)

    scores, aligners = al.evaluate_alignment((x_fit, y_fit, labels_fit), (x_eval, y_eval, labels_eval), class_emb)
    np.testing.assert_allclose(aligners["procrustes"].rotation, r_fit, atol=1e-10)
    assert scores["in_sample"]["procrustes"]["matched_cosine"] == pytest.approx(1.0, abs=1e-10)
    expected = al.matched_cosine(x_eval @ r_fit, y_eval)
    assert scores["held_out"]["procrustes"]["matched_cosine"] == pytest.approx(expected, abs=1e-10)
    assert expected < 0.9

    # changing the evaluation targets changes held-out scores but never the fitted map
    _, again = al.evaluate_alignment((x_fit, y_fit, labels_fit), (x_eval, -y_eval, labels_eval), class_emb)
    np.testing.assert_array_equal(again["procrustes"].rotation, aligners["procrustes"].rotation)


def test_held_out_evaluation_refuses_rows_that_were_fitted():
    rng = np.random.default_rng(0)
    x, y, labels = _unit_rows(rng, 20, 5), _unit_rows(rng, 20, 5), np.arange(20) % 2
    with pytest.raises(ValueError, match="disjoint"):
        al.evaluate_alignment((x[:12], y[:12], labels[:12]), (x[10:], y[10:], labels[10:]), np.eye(2, 5))


def test_zero_shot_on_hand_built_embeddings():
    class_emb = np.eye(3)
    images = np.array([[0.9, 0.1, 0.0], [0.0, 0.2, 0.8], [0.1, 0.7, 0.2], [5.0, 4.0, 0.0]])
    np.testing.assert_array_equal(al.zero_shot_predict(images, class_emb), [0, 2, 1, 0])
    # cosine, not dot product: a long text vector must not win by its length
    np.testing.assert_array_equal(al.zero_shot_predict(images, class_emb * [[1], [100], [1]]), [0, 2, 1, 0])
    assert al.zero_shot_accuracy(images, class_emb, [0, 2, 0, 0]) == pytest.approx(0.75)


def test_each_prompt_set_scores_the_same_image_embeddings():
    images = np.array([[1.0, 0.1], [0.1, 1.0]])
    good = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    swapped = good[:, ::-1]
    correct = al.zero_shot_correct_by_prompt_set(images, [0, 1], {"good": good, "swapped": swapped})
    assert {k: v.tolist() for k, v in correct.items()} == {"good": [True, True], "swapped": [False, False]}


def test_ensemble_is_the_normalised_mean_of_normalised_template_embeddings():
    per_template = np.array([[[2.0, 0.0], [0.0, 3.0]],
                             [[0.0, 5.0], [0.0, 0.1]]])
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(al.ensemble_embedding(per_template), [[s, s], [0.0, 1.0]])
    # not the mean of raw vectors (which the long [0, 5] would dominate)
    raw_mean = al.l2_normalize(per_template.mean(0))
    assert not np.allclose(al.ensemble_embedding(per_template), raw_mean)
    np.testing.assert_allclose(al.ensemble_embedding(per_template[:1]), al.l2_normalize(per_template[0]))


def test_centroid_distance_is_zero_for_identical_clouds_and_the_shift_length_otherwise():
    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(30, 7))
    assert al.centroid_distance(cloud, cloud.copy()) == 0.0
    shift = rng.normal(size=7)
    assert al.centroid_distance(cloud, cloud + shift) == pytest.approx(np.linalg.norm(shift))


def test_unmatched_cosine_averages_exactly_the_different_class_pairs():
    rng = np.random.default_rng(0)
    img, txt, labels = rng.normal(size=(25, 4)), rng.normal(size=(25, 4)), rng.integers(0, 3, 25)
    sims = al.l2_normalize(img) @ al.l2_normalize(txt).T
    brute = sims[labels[:, None] != labels[None, :]].mean()
    assert al.unmatched_cosine(img, txt, labels) == pytest.approx(brute)


def test_gap_metrics_raw_versus_normalised():
    img = np.array([[3.0, 0.0], [0.0, 3.0]])
    txt = np.array([[1.0, 0.0], [0.0, 1.0]])
    raw, unit = al.gap_metrics(img, txt, [0, 1], normalize=False), al.gap_metrics(img, txt, [0, 1], normalize=True)
    assert raw["matched_cosine"] == unit["matched_cosine"] == pytest.approx(1.0)
    assert raw["unmatched_cosine"] == pytest.approx(0.0)
    assert raw["centroid_distance"] == pytest.approx(np.sqrt(2))
    assert unit["centroid_distance"] == pytest.approx(0.0)
    assert raw["image_norm"] == pytest.approx(3.0) and unit["image_norm"] == pytest.approx(1.0)


def test_centroid_shift_moves_the_image_centroid_onto_the_text_centroid():
    rng = np.random.default_rng(0)
    img, txt = _unit_rows(rng, 50, 6) + 2.0, _unit_rows(rng, 50, 6)
    shift = al.fit_centroid_shift(img, txt)
    np.testing.assert_allclose(al.l2_normalize(img).mean(0) + shift.shift, txt.mean(0))
    before = al.centroid_distance(al.l2_normalize(img), txt)
    assert al.centroid_distance(shift.apply(img), txt) < 0.5 * before


def test_paired_captions_keep_each_row_s_class():
    table = np.arange(3 * 4 * 2, dtype=float).reshape(3, 4, 2)  # (templates, classes, dim)
    labels = np.array([0, 3, 1, 1, 2, 0, 3])
    captions = al.paired_captions(table, labels, seed=0)
    for row, label in zip(captions, labels):
        assert any(np.array_equal(row, table[t, label]) for t in range(3))
    np.testing.assert_array_equal(captions, al.paired_captions(table, labels, seed=0))

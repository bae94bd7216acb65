"""Smoke run of the benchmark harness: one small dataset, tiny teachers, a few epochs.

Checks that the harness runs end to end and writes sane files; it measures nothing.
"""

import ast
import json
import math
import os

import pytest

from skdistill._datasets import load_dataset

pytest.importorskip("pandas")


def test_smoke_suite_writes_results(tmp_path, data_dir):
    if load_dataset("diabetes", data_dir, allow_download=False) is None:
        pytest.skip(f"dataset 'diabetes' is not in {data_dir}; pass --data-dir")
    import pandas as pd

    from benchmarks.run import main

    summary = main(["--suite", "smoke", "--data-dir", str(data_dir), "--no-download",
                    "--out-dir", str(tmp_path), "--no-plots"])

    df = pd.read_csv(tmp_path / "smoke.csv")
    assert {"teacher", "distilled", "distilled_v010", "distilled_v070",
            "hard_label", "sklearn_mlp", "logreg", "best_member"} <= set(df.method)
    assert df.accuracy.between(0.5, 1.0).all()  # diabetes: 65% majority class
    assert (df.log_loss > 0).all() and df.ece.between(0, 1).all()
    assert df.fidelity.between(0, 1).all()
    students = df.method.isin(["distilled", "distilled_v010", "distilled_v070", "hard_label"])
    assert df.loc[students, "epochs"].between(1, 5).all()  # the smoke run's max_epochs=5
    assert df.loc[~students, "epochs"].isna().all()
    assert (df.loc[df.method == "teacher", "fidelity"] == 1).all()
    speed = df[df.method.isin(["teacher", "distilled"])]
    assert (speed.latency_s > 0).all() and (speed.pickle_bytes > 0).all()
    assert (speed.throughput_rows_s > 0).all()

    md = (tmp_path / "smoke.md").read_text()
    assert "Summary against the targets" in md and "diabetes" in md
    assert " epochs |" in md  # the student's epochs beside its fit time
    assert "python -m benchmarks.run --suite smoke" in md
    saved = json.loads((tmp_path / "smoke_summary.json").read_text())
    assert saved["n_datasets"] == 1
    assert 0 < saved["median_retention"] < 2 and 0 <= saved["median_fidelity"] <= 1
    assert saved["median_latency_ratio"] > 0 and saved["median_size_ratio"] > 0
    from benchmarks._report import TARGETS

    assert [c["metric"] for c in saved["checks"]] == list(TARGETS)
    assert "v010" in saved and 0 <= saved["v010"]["median_fidelity"] <= 1
    assert "v070" in saved and saved["student_fit_time_vs_v070"] > 0
    # Means and per-table counts beside the medians (one table: they equal its values).
    assert math.isclose(saved["mean_fidelity"], saved["median_fidelity"])
    assert saved["v070"]["n_fidelity_below_current"] in (0, 1)
    assert "mean fidelity" in md and "tables where current is above 0.7.0" in md
    assert "median student fit time, current/0.7.0 defaults" in md
    header = next(line for line in md.splitlines() if "current" in line and "target" in line)
    assert header.split()[:3] == ["current", "0.1.0", "0.7.0"]
    assert "| 0.1.0 defaults | 0.7.0 defaults |" in md
    assert math.isclose(summary["median_fidelity"], saved["median_fidelity"])


def test_report_reads_equal_means_from_a_merged_csv_as_ties(tmp_path):
    # A merged report reads the shards' CSVs, which keep 6 significant digits: the equal
    # means of a table's seeds can then differ by up to 5e-7, which is not a win.
    import pandas as pd

    from benchmarks._common import EARLIER_DEFAULTS
    from benchmarks._report import summarize

    earlier = EARLIER_DEFAULTS[-1][0]
    rows = []
    # Two seeds of 192 test rows: 146 + 146 and 145 + 147 rows right, equal means.
    for seed, (mine, theirs) in enumerate(((146 / 192, 145 / 192), (146 / 192, 147 / 192))):
        for method, acc in (("teacher", 0.78), ("distilled", mine), (earlier, theirs),
                            ("hard_label", 0.70), ("logreg", 0.70)):
            rows.append(dict(dataset="t", method=method, seed=seed, accuracy=acc,
                             fidelity=acc, log_loss=0.5, ece=0.1, fit_seconds=1.0,
                             teacher_fit_seconds=1.0, student_fit_seconds=1.0,
                             latency_s=1e-4, throughput_rows_s=1e4, pickle_bytes=1e5,
                             compile_seconds=float("nan"), n_rows=100, n_train=75,
                             n_test=25, n_features=3, n_classes=2, subsampled=False,
                             member=""))
    path = tmp_path / "merged.csv"
    pd.DataFrame(rows).to_csv(path, index=False, float_format="%.6g")
    df = pd.read_csv(path)
    means = df.groupby("method").accuracy.mean()
    assert means["distilled"] > means[earlier]  # the rounding this test is about
    key = EARLIER_DEFAULTS[-1][1]
    summary = summarize(df)[0]
    assert summary[key]["n_accuracy_below_current"] == 0
    assert summary[key]["n_fidelity_below_current"] == 0


def test_earlier_defaults_differ_from_the_current_ones_only_where_they_changed():
    # The side-by-side columns measure earlier releases only if their parameters are
    # written out: a default that changes without v0xx_params following would silently
    # turn an "old" column into the new defaults.
    from benchmarks._common import (
        v010_params,
        v031_params,
        v041_params,
        v050_params,
        v060_params,
        v070_params,
    )
    from skdistill import DistilledClassifier, DistilledRegressor

    current = DistilledClassifier().get_params()
    v031 = DistilledClassifier(**v031_params()).get_params()
    assert {k for k in current if current[k] != v031[k]} == {
        "temperature", "alpha", "n_iter_no_change", "epoch_rows", "n_bins",
        "hidden_layer_sizes", "weight_averaging", "augment_factor", "activation"}
    assert (v031["temperature"], v031["alpha"], v031["n_iter_no_change"],
            v031["epoch_rows"], v031["n_bins"]) == (2.0, 0.5, 10, None, 16)
    v070 = DistilledClassifier(**v070_params()).get_params()
    assert {k for k in current if current[k] != v070[k]} == {"activation"}
    assert (current["activation"], v070["activation"]) == ("silu", "relu")
    v060 = DistilledClassifier(**v060_params()).get_params()
    assert {k for k in current if current[k] != v060[k]} == {"augment_factor", "activation"}
    assert (current["augment_factor"], v060["augment_factor"]) == (40.0, 20.0)
    v050 = DistilledClassifier(**v050_params()).get_params()
    assert {k for k in current if current[k] != v050[k]} == {
        "hidden_layer_sizes", "weight_averaging", "augment_factor", "activation"}
    assert (v050["hidden_layer_sizes"], v050["weight_averaging"]) == ((128, 64), "none")
    # The regressor kept 0.6.0's 20 synthetic rows per real row and ReLU: v060 and v070
    # change nothing for it.
    for params in (v060_params(), v070_params()):
        assert DistilledRegressor(**params).get_params() == DistilledRegressor().get_params()
    for estimator in (DistilledClassifier, DistilledRegressor):
        now, v041 = estimator().get_params(), estimator(**v041_params()).get_params()
        changed = {"n_bins"} | ({"hidden_layer_sizes", "weight_averaging", "augment_factor",
                                 "activation"}
                                if estimator is DistilledClassifier else set())
        assert {k for k in now if now[k] != v041[k]} == changed and v041["n_bins"] == 16
    v010 = DistilledClassifier(**v010_params(1000)).get_params()
    assert (v010["temperature"], v010["alpha"], v010["n_iter_no_change"],
            v010["input_encoding"], v010["epoch_rows"], v010["max_epochs"]) == (
        2.0, 0.5, 10, "standard", None, 200)
    # Written out where every earlier release agreed with today's default, so that a
    # change of that default leaves the earlier columns as they were.
    for params in (v010_params(1000), v031_params(), v041_params(), v050_params(),
                   v060_params(), v070_params()):
        assert params["max_epochs"] == 200


def test_scale_smoke_writes_results(tmp_path):
    pytest.importorskip("distributed")
    pytest.importorskip("psutil")
    from benchmarks.scale import main

    saved = dict(os.environ)  # distributed's Nanny leaves OMP_NUM_THREADS=1 etc. behind
    try:
        runs = main(["--smoke", "--phases", "cluster", "--out-dir", str(tmp_path)])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    (record,) = runs[-1]["records"]
    assert record["rows"] == 20_000 and record["partitions"] == 4
    assert 0.5 < record["test_accuracy"] <= 1 and 0 < record["heldout_fidelity"] <= 1
    assert record["client_peak_mb"] >= record["client_baseline_mb"] > 0
    # The client held at most the streamed partitions, never the table.
    assert 0 < record["client_max_rows_held"] < 20_000
    md = (tmp_path / "scale.md").read_text()
    assert "python -m benchmarks.scale --smoke" in md and "client_peak_mb" in md
    assert "- settings of the cluster and parity phases:" in md
    assert "memory and strategy phases use" not in md  # this run had neither
    assert json.loads((tmp_path / "scale.json").read_text())[-1]["records"] == [record]


def test_scale_strategy_smoke_scores_each_strategy(tmp_path):
    pytest.importorskip("psutil")
    from benchmarks.scale import STRATEGIES, main

    runs = main(["--smoke", "--phases", "strategy", "--out-dir", str(tmp_path)])
    records = runs[-1]["records"]
    assert [r["strategy"] for r in records] == [label for label, _, _ in STRATEGIES]
    five, auto, smaller = records
    # 20,000 rows and a 4,000-row cap: "auto" needs only 2 folds, so half the fits.
    assert (five["folds"], auto["folds"]) == (5, 2) and auto["fits"] * 2 == five["fits"]
    for r in records:
        assert 0 < r["target_mae_vs_true_p"] < 0.5 and 0.5 < r["target_bayes_agreement"] <= 1
    assert smaller["max_teacher_rows"] < auto["max_teacher_rows"]
    md = (tmp_path / "scale.md").read_text()
    assert "### strategy" in md and "strategy phases use the in-memory estimator's" in md
    assert "settings of the cluster" not in md  # its settings are not this run's


def test_optimizer_speed_times_both_optimizers(tmp_path, data_dir):
    if load_dataset("diabetes", data_dir, allow_download=False) is None:
        pytest.skip(f"dataset 'diabetes' is not in {data_dir}; pass --data-dir")
    import skdistill._training as training
    from benchmarks.optimizer_speed import main

    fused = training._make_optimizer
    main(["--datasets", "diabetes", "--repeats", "1", "--data-dir", str(data_dir),
          "--out-dir", str(tmp_path)])
    assert training._make_optimizer is fused  # the per-tensor fits put it back
    md = (tmp_path / "optimizer_speed.md").read_text()
    (row,) = [line for line in md.splitlines() if line.startswith("| diabetes |")]
    fused_s, per_tensor_s, ratio = (float(c.strip().rstrip(" s")) for c in row.split("|")[2:5])
    # Printed to two decimals: the ratio of the printed times is close, not equal.
    assert fused_s > 0 and per_tensor_s > 0
    assert math.isclose(ratio, fused_s / per_tensor_s, rel_tol=0.05)


def test_epoch_speed_times_both_loops_and_finds_the_same_weights(tmp_path, data_dir):
    if load_dataset("diabetes", data_dir, allow_download=False) is None:
        pytest.skip(f"dataset 'diabetes' is not in {data_dir}; pass --data-dir")
    import skdistill._training as training
    from benchmarks.epoch_speed import main
    from skdistill._student import PiecewiseLinear

    forward, average = PiecewiseLinear.torch_forward, training._averaged_model
    (row,) = main(["--datasets", "diabetes", "--repeats", "1", "--epochs", "5",
                   "--data-dir", str(data_dir), "--out-dir", str(tmp_path)])
    # The earlier loop's pieces are put back.
    assert PiecewiseLinear.torch_forward is forward and training._averaged_model is average
    name, sizes, current, earlier, same = row
    # The cheaper steps compute the same values: the two fits end with the same weights.
    assert name == "diabetes" and same and current > 0 and earlier > 0
    md = (tmp_path / "epoch_speed.md").read_text()
    (line,) = [line for line in md.splitlines() if line.startswith("| diabetes |")]
    assert line.rstrip().endswith("| yes |") and "-".join(map(str, sizes)) in line


def test_epoch_speed_earlier_loop_trains_with_the_earlier_pieces():
    import numpy as np
    import torch

    import skdistill._training as training
    from benchmarks.epoch_speed import (
        _indexed_piecewise_linear,
        _per_tensor_average,
        earlier_loop,
    )
    from skdistill._student import PiecewiseLinear

    layer = PiecewiseLinear.fit(np.random.RandomState(0).normal(size=(200, 3)), n_bins=8)
    params = {k: torch.as_tensor(v) for k, v in layer.arrays().items()}
    h = torch.as_tensor(np.random.RandomState(1).normal(scale=2.0, size=(50, 3)))
    current = layer.torch_forward(torch, params, h)
    with earlier_loop():
        # The timed fits really run 0.8.0's pieces, not today's under another name.
        assert PiecewiseLinear.torch_forward is _indexed_piecewise_linear
        assert training._averaged_model is _per_tensor_average
        earlier = layer.torch_forward(torch, params, h)
    assert torch.equal(current, earlier)


def test_first_layer_interpolation_is_the_same_layer_with_the_same_gradient():
    import numpy as np
    import torch

    from benchmarks.first_layer import interpolated_first_layer, student_networks
    from skdistill._student import MLPStudent, build_student

    rng = np.random.RandomState(0)
    X = np.c_[rng.normal(size=(300, 3)), rng.randint(0, 2, 300), rng.randint(0, 5, 300)]
    student = build_student(X, 3, (16,), input_encoding="piecewise_linear", n_bins=8)
    dense, interpolated = student_networks(student)
    # Rows inside and far outside the training range (the outer bins' reach).
    h = torch.as_tensor(np.r_[X, 4 * rng.normal(size=(50, 5))], dtype=torch.float32)
    torch.testing.assert_close(interpolated(h), dense(h), rtol=0, atol=1e-5)

    # The hand-written backward gives the knots the gradient autograd gives them.
    ple, linear = student.layers[1:3]
    standardized = torch.as_tensor(student.layers[0].forward(h.double().numpy()),
                                   dtype=torch.float32)

    def autograd_lookup(knots, index, weight):
        return torch.nn.functional.embedding_bag(index, knots, per_sample_weights=weight,
                                                 mode="sum")

    layer, check = (interpolated_first_layer(ple, linear, lookup)
                    for lookup in (None, autograd_lookup))
    for net in (layer, check):
        net(standardized).pow(2).sum().backward()
    torch.testing.assert_close(layer.knots.grad, check.knots.grad, rtol=1e-5, atol=1e-5)

    # Saved back as today's two layers, it computes what it trained.
    with torch.no_grad():
        layer.knots.add_(0.1 * torch.randn_like(layer.knots))
    back = MLPStudent([student.layers[0], *layer.to_layers()])
    with torch.no_grad():
        expected = layer(standardized).double().numpy()
    np.testing.assert_allclose(back.forward(h.double().numpy()), expected, atol=1e-5)


def test_first_layer_writes_its_page(tmp_path, data_dir):
    if load_dataset("diabetes", data_dir, allow_download=False) is None:
        pytest.skip(f"dataset 'diabetes' is not in {data_dir}; pass --data-dir")
    from benchmarks.first_layer import main

    (row,) = main(["--datasets", "diabetes", "--steps", "3", "--repeats", "1",
                   "--data-dir", str(data_dir), "--out-dir", str(tmp_path)])
    assert row["dense_ms"] > 0 and row["interpolated_ms"] > 0 and row["gap"] < 1e-5
    md = (tmp_path / "first_layer.md").read_text()
    assert "| diabetes | 8 | " in md and "Median dense / interpolated" in md


def test_step_speed_autocasts_the_same_parameters_to_close_outputs():
    import numpy as np
    import torch

    from benchmarks.step_speed import autocast_bfloat16
    from skdistill._student import build_student
    from skdistill._training import torch_student

    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    net = torch_student(build_student(X, 3, (16,), input_encoding="piecewise_linear", n_bins=8))
    fast = autocast_bfloat16(net)
    # The optimizer steps the float32 weights themselves.
    assert [p.data_ptr() for p in fast.parameters()] == [p.data_ptr() for p in net.parameters()]
    h = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        out, expected = fast(h), net(h)
    assert out.dtype == torch.float32
    # bfloat16 keeps 8 bits of mantissa: close, but not float32's outputs.
    torch.testing.assert_close(out, expected, rtol=0, atol=0.05)
    assert not torch.equal(out, expected)


def test_step_speed_writes_its_page(tmp_path, data_dir):
    if load_dataset("diabetes", data_dir, allow_download=False) is None:
        pytest.skip(f"dataset 'diabetes' is not in {data_dir}; pass --data-dir")
    import torch

    from benchmarks.step_speed import main

    threads = torch.get_num_threads()
    (row,) = main(["--datasets", "diabetes", "--steps", "3", "--repeats", "1",
                   "--data-dir", str(data_dir), "--out-dir", str(tmp_path / "new")])
    assert torch.get_num_threads() == threads
    assert min(row["float32_ms"], row["bfloat16_ms"], row["2 threads_ms"]) > 0
    assert 0 < row["gap"] < 0.05
    md = (tmp_path / "new" / "step_speed.md").read_text()
    assert "| diabetes | 339-256-256-2 | " in md and "Median float32 / 2 threads" in md


def test_time_limit_page_summarizes_each_student_against_the_limit(tmp_path):
    import pandas as pd

    from benchmarks.time_limit import main, variants

    assert [v for v, _, _ in variants([4.0, 8.0], 3000)] == [
        "default", "limit 4 s", "limit 8 s", "0.1.0"]
    rows = []
    for dataset, scale in (("a", 1.0), ("b", 2.0)):
        for variant, limit, fid, seconds in (("default", None, 0.97, 60.0),
                                             ("limit 4 s", 4.0, 0.95, 3.8),
                                             ("0.1.0", None, 0.92, 2.0)):
            rows.append({"dataset": dataset, "seed": 0, "variant": variant, "limit": limit,
                         "fidelity": fid, "accuracy": 0.8, "teacher_accuracy": 0.8,
                         "student_seconds": seconds * scale, "epochs": 10,
                         "stopped_by": "time_limit" if limit else "max_epochs"})
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    main(["--render", str(tmp_path / "runs.csv"), "--out-dir", str(tmp_path)])
    md = (tmp_path / "time_limit.md").read_text()
    # The limited student: its fidelity, its longest fit over the limit (7.6 s of 4 s on
    # table b) and its fit over 0.1.0's on the same table (1.9x on both).
    assert "| limit 4 s | 95.00% | 95.00% | 100.00% | 100.00% | 5.7 s | 1.90 | 1.9x |" in md
    assert "| default | 97.00% | 97.00% | 100.00% | 100.00% | 90.0 s |  | 30.0x |" in md
    assert "| b | 0.9700 | 0.9500 | 0.9200 |" in md


def test_time_limit_levers_compare_each_change_with_the_limited_student(tmp_path):
    import pandas as pd

    from benchmarks.time_limit import LEVERS, main, variants

    for group in LEVERS:
        fitted = list(variants([4.0, 8.0], 3000, levers=group))
        if group in ("epochs", "epoch_size"):  # changes that lift the limit keep their names
            assert [v for v, _, _ in fitted][:4] == ["limit 4 s", *LEVERS[group]]
            assert all(p["student_time_limit"] is None and limit is None
                       for _, limit, p in fitted[1:4])
            # ... once: the second limit brings only its own limited student.
            assert [v for v, _, _ in fitted][4:] == ["limit 8 s", "0.1.0"]
            continue
        assert [v for v, _, _ in fitted] == (
            [f"limit {n} s{change}" for n in (4, 8)
             for change in ["", *(f", {name}" for name in LEVERS[group])]] + ["0.1.0"])
        # Every student but 0.1.0's is limited; the cosine schedule unless the change
        # is the schedule itself.
        assert all(p["student_time_limit"] == limit
                   and p["lr_schedule"] == ("plateau" if "plateau" in name else "cosine")
                   for name, limit, p in fitted[:-1])
    fitted = list(variants([4.0], 3000, levers="one"))
    assert fitted[1][2]["n_bins"] == 16 and "n_bins" not in fitted[0][2]
    rows = []
    for dataset, lever_fid in (("a", 0.96), ("b", 0.93)):
        for variant, limit, fid in (("limit 4 s", 4.0, 0.95), ("limit 4 s, n_bins=16", 4.0,
                                                                lever_fid),
                                    ("0.1.0", None, 0.92)):
            rows.append({"dataset": dataset, "seed": 0, "variant": variant, "limit": limit,
                         "fidelity": fid, "accuracy": 0.8, "teacher_accuracy": 0.8,
                         "student_seconds": 4.0 if limit else 2.0, "epochs": 10,
                         "stopped_by": "time_limit" if limit else "max_epochs"})
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    main(["--render", str(tmp_path / "runs.csv"), "--out-dir", str(tmp_path), "--levers",
          "--tag", "levers"])
    md = (tmp_path / "levers.md").read_text()
    assert md.startswith("# Levers on a student with a time limit")
    # +1 point on table a, -2 on b: a mean of -0.5, higher on one table of two.
    assert "| limit 4 s, n_bins=16 | 94.50% |" in md and "| -0.50 | 1/2 |" in md
    assert "| limit 4 s | 95.00% |" in md and "| +0.00 | 0/2 |" in md


def test_time_limit_levers_compare_each_change_with_its_own_limit():
    import pandas as pd

    from benchmarks.time_limit import summary_rows

    rows = [{"dataset": dataset, "seed": 0, "variant": variant, "limit": limit,
             "fidelity": fid, "accuracy": 0.8, "teacher_accuracy": 0.8,
             "student_seconds": limit or 2.0, "epochs": 10, "stopped_by": "time_limit"}
            for dataset in ("a", "b")
            for variant, limit, fid in (("limit 4 s", 4.0, 0.95), ("limit 4 s, x", 4.0, 0.96),
                                        ("limit 8 s", 8.0, 0.97), ("limit 8 s, x", 8.0, 0.96),
                                        ("0.1.0", None, 0.92))]
    summary = {r["variant"]: r for r in summary_rows(pd.DataFrame(rows), "limit 4 s")}
    assert summary["limit 4 s, x"]["mean Δ fidelity (pp)"] == "+1.00"
    assert summary["limit 8 s, x"]["mean Δ fidelity (pp)"] == "-1.00"
    assert summary["limit 8 s"]["mean Δ fidelity (pp)"] == "+0.00"
    assert summary["0.1.0"]["mean Δ fidelity (pp)"] == "-3.00"


def test_regression_summary_reports_each_candidate_beside_the_defaults(tmp_path):
    import pandas as pd

    from benchmarks.regression import (
        CANDIDATES,
        EARLIER_REGRESSOR_DEFAULTS,
        summarize,
        write_markdown,
    )

    # (R², R² against the teacher's predictions) per method; seed 1 adds 0.01 to R².
    methods = {"teacher": (0.80, 1.0), "distilled": (0.79, 0.98), "true_targets": (0.75, 0.9),
               **{f"distilled_{key}": (0.78, 0.97) for key, _, _ in EARLIER_REGRESSOR_DEFAULTS},
               **{f"distilled_{key}": (0.76, 0.95) for key, _, _ in CANDIDATES}}
    df = pd.DataFrame([
        dict(dataset=name, seed=seed, method=method, r2=r2 + 0.01 * seed, rmse=1.0,
             agreement_r2=agreement, latency_s=1e-3 if method == "teacher" else 1e-5,
             size_bytes=1e6 if method == "teacher" else 1e4)
        for name in ("a", "b") for seed in (0, 1) for method, (r2, agreement) in methods.items()])
    summary = summarize(df)
    retention = [(0.76 + 0.01 * seed) / (0.80 + 0.01 * seed) for seed in (0, 1)]
    for key, _, _ in CANDIDATES:
        assert summary[f"median_r2_retention_{key}"] == pytest.approx(sum(retention) / 2)
        assert summary[f"median_agreement_r2_{key}"] == pytest.approx(0.95)
    assert summary["median_agreement_r2"] == pytest.approx(0.98)
    assert summary["distillation_beats_true_targets"] == "4/4"
    env = {"command": "python -m benchmarks.regression", "date": "today", "machine": "here",
           "load_average_at_start": (0, 0, 0), "versions": {"skdistill": "x"}}
    write_markdown(df, summary, env, tmp_path / "regression.md")
    md = (tmp_path / "regression.md").read_text()
    for key, _, _ in CANDIDATES:
        assert f"| a | distilled_{key} | 0.7650 |" in md
        assert (f"- `distilled_{key}`: median R² retention "
                f"{sum(retention) / 2:.4f}, median R² against the teacher's predictions "
                "0.9500 (defaults: 0.9800)") in md


def test_datasets_with_teacher_cache_skips_missing_tables(data_dir, tmp_path, capsys):
    if load_dataset("diabetes", data_dir, allow_download=False) is None:
        pytest.skip(f"dataset 'diabetes' is not in {data_dir}; pass --data-dir")
    from benchmarks._common import datasets_with_teacher_cache, script_command

    assert list(datasets_with_teacher_cache(["diabetes"], tmp_path)) == []
    assert f"diabetes: not in {tmp_path}; skipped" in capsys.readouterr().out
    ((name, X, y, memory),) = datasets_with_teacher_cache(["diabetes"], data_dir)
    assert name == "diabetes" and len(X) == len(y) == 768 and hasattr(memory, "cache")
    assert script_command("underfit", ["--datasets", "a b"]) == (
        "python -m benchmarks.underfit --datasets 'a b'")
    assert script_command("underfit", []) == "python -m benchmarks.underfit"


def test_teacher_agreement_compares_reseeded_fits(tmp_path, data_dir):
    if load_dataset("diabetes", data_dir, allow_download=False) is None:
        pytest.skip(f"dataset 'diabetes' is not in {data_dir}; pass --data-dir")
    from benchmarks.teacher_agreement import PAIRS, main

    (row,) = main(["--datasets", "diabetes", "--max-epochs", "1", "--data-dir", str(data_dir),
                   "--out-dir", str(tmp_path)])
    for column, _, _ in PAIRS:
        assert 0.5 < row[column] <= 1.0, column
    assert 0.5 < row["teacher 0 accuracy"] < 1.0  # diabetes: 65% majority class
    md = (tmp_path / "teacher_agreement.md").read_text()
    (line,) = [x for x in md.splitlines() if x.startswith("| diabetes |")]
    assert f"{row['student 0 vs teacher 0 (fidelity)']:.4f}" in line
    assert "python -m benchmarks.teacher_agreement --datasets diabetes" in md
    assert (tmp_path / "teacher_agreement.csv").exists()


def test_student_pair_averages_two_students_of_the_same_teachers(tmp_path, data_dir):
    if load_dataset("diabetes", data_dir, allow_download=False) is None:
        pytest.skip(f"dataset 'diabetes' is not in {data_dir}; pass --data-dir")
    from benchmarks.student_pair import MODELS, PAIRS, main

    (row,) = main(["--datasets", "diabetes", "--seeds", "1", "--max-epochs", "2",
                   "--fork-epochs", "1", "--data-dir", str(data_dir),
                   "--out-dir", str(tmp_path)])
    for column, _ in MODELS:
        assert 0.5 < row[f"fidelity {column}"] <= 1.0, column
        assert 0.5 < row[f"accuracy {column}"] < 1.0, column
    for column, _, _ in PAIRS:
        assert 0.5 < row[column] <= 1.0, column
    hidden = ast.literal_eval(row["hidden"])
    assert ast.literal_eval(row["half"]) == tuple(w // 2 for w in hidden)
    # two half-width students hold fewer weights than one default student
    assert row["weights half A+B"] < row["weights A"]
    md = (tmp_path / "student_pair.md").read_text()
    fidelity_line, _, _ = [x for x in md.splitlines() if x.startswith("| diabetes |")]
    assert f"| {row['fidelity half A+B']:.4f} |" in fidelity_line
    assert f"| {row['fidelity fork weights']:.4f} |" in fidelity_line
    assert "python -m benchmarks.student_pair --datasets diabetes" in md
    # --render rebuilds the same page from the CSV, keeping the header
    main(["--render", "--out-dir", str(tmp_path)])
    assert (tmp_path / "student_pair.md").read_text() == md


def test_student_pair_averages_the_weights_of_students_of_one_shape():
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from benchmarks.student_pair import averaged_weights
    from skdistill import DistilledClassifier

    X, y = make_classification(n_samples=300, n_features=4, random_state=0)
    one, two = (DistilledClassifier(teachers=[("lr", LogisticRegression())], cv=2,
                                    max_epochs=2, hidden_layer_sizes=(8,),
                                    input_encoding="piecewise_linear", n_bins=4,
                                    random_state=seed).fit(X, y) for seed in (0, 1))
    merged = averaged_weights([one, two])
    assert merged is not one and merged.student_ is not one.student_
    for a, b, m in zip(one.student_.layers, two.student_.layers, merged.student_.layers):
        for name, value in m.arrays().items():
            if value.dtype.kind == "f":
                np.testing.assert_allclose(value, (a.arrays()[name] + b.arrays()[name]) / 2,
                                           rtol=1e-6)
    # the average of a student with itself is that student
    np.testing.assert_array_equal(averaged_weights([one, one]).predict_proba(X),
                                  one.predict_proba(X))


def test_underfit_scores_each_student_on_its_own_rows(tmp_path, data_dir):
    if load_dataset("diabetes", data_dir, allow_download=False) is None:
        pytest.skip(f"dataset 'diabetes' is not in {data_dir}; pass --data-dir")
    from benchmarks.underfit import VARIANTS, main

    rows = main(["--datasets", "diabetes", "--max-epochs", "2", "--data-dir", str(data_dir),
                 "--out-dir", str(tmp_path)])
    assert [r["variant"] for r in rows] == list(VARIANTS)
    for r in rows:
        for part in ("trained synthetic rows", "fresh MUNGE rows", "test rows"):
            assert 0.3 < r[part] <= 1.0, (r["variant"], part)
        assert r["epochs"] <= 2 and r["student_fit_seconds"] > 0
    md = (tmp_path / "underfit.md").read_text()
    assert md.count("| diabetes |") == len(VARIANTS)
    assert "python -m benchmarks.underfit --datasets diabetes" in md


def test_ablation_page_reports_the_median_table_and_epochs(tmp_path):
    """The ablation page's numbers come from the rows: means over seeds, then over (or
    the median of) the tables; fidelity per table beside accuracy."""
    import pandas as pd

    from benchmarks.ablate import _write_md

    rows = []
    for variant, fid, epochs in (("a", (0.90, 0.95, 0.99), 100), ("b", (0.80, 0.97, 0.98), 40)):
        for dataset, f in zip(("t1", "t2", "t3"), fid):
            for seed, shift in ((0, -0.01), (1, 0.01)):
                rows.append(dict(group="g", variant=variant, dataset=dataset, seed=seed,
                                 is_reference=variant == "a", accuracy=0.5, log_loss=0.7,
                                 ece=0.1, fidelity=f + shift, teacher_fit_seconds=0.0,
                                 student_fit_seconds=2.0, n_iter=epochs + seed,
                                 latency_s=3e-5, pickle_bytes=2048, teacher_accuracy=0.6))
    md = _write_md(pd.DataFrame(rows), ["# header", ""], tmp_path).read_text()
    (line_a,) = [x for x in md.splitlines() if x.startswith("| a (reference) |")]
    line_b = next(x for x in md.splitlines() if x.startswith("| b |"))  # the summary row
    # mean fidelity, median table, then student fit and epochs (means over tables)
    assert "| 0.9467 | 0.9500 | cached | 2.0 s | 100 |" in line_a
    assert "| 0.9167 | 0.9700 | cached | 2.0 s | 40 |" in line_b
    assert "Fidelity per dataset:" in md
    assert "| b | 0.8000 | 0.9700 | 0.9800 |" in md


def test_ablation_module_constants_apply_to_one_fit_and_are_restored():
    """A variant key such as ``ema_warmup`` sets the library's constant during its fit
    only, even when the fit fails."""
    import skdistill._training as training
    from benchmarks.ablate import MODULE_CONSTANTS, _module_constants

    assert MODULE_CONSTANTS["ema_warmup"] == ("skdistill._training", "EMA_WARMUP")
    before = training.EMA_WARMUP
    with _module_constants({"ema_warmup": before + 7}):
        assert training.EMA_WARMUP == before + 7
    assert training.EMA_WARMUP == before
    with pytest.raises(RuntimeError), _module_constants({"ema_warmup": 3}):
        raise RuntimeError("fit failed")
    assert training.EMA_WARMUP == before


def test_ablation_run_sets_a_variants_module_constant_during_its_own_fit(monkeypatch):
    """run_dataset hands a variant's ``MODULE_CONSTANTS`` key to the library, not to the
    estimator, and only for that variant's fit; the row keeps the key in its label."""
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    import benchmarks.ablate as ablate
    import skdistill
    import skdistill._training as training

    seen = []

    fit = skdistill.DistilledClassifier.fit

    def recording_fit(self, X, y, **kwargs):
        seen.append((self.max_epochs, training.EMA_WARMUP))
        return fit(self, X, y, **kwargs)

    before = training.EMA_WARMUP
    tiny = {"max_epochs": 2, "hidden_layer_sizes": (4,), "augmentation": None, "cv": 2}
    monkeypatch.setattr(skdistill.DistilledClassifier, "fit", recording_fit)
    monkeypatch.setattr(ablate, "benchmark_teachers",
                        lambda seed: [("lr", LogisticRegression(max_iter=200))])
    monkeypatch.setitem(ablate.GROUPS, "probe",
                        [dict(tiny), dict(tiny, max_epochs=3, ema_warmup=before + 5)])
    X, y = make_classification(n_samples=240, n_features=5, random_state=0)
    rows = ablate.run_dataset("toy", X, y, 0, ["probe"], memory=None, latency_calls=2,
                              max_train=None, n_jobs=1, log=lambda m: None)
    # the reference teacher fit, then the two variants; only the second sees the constant
    assert seen[1:] == [(2, before), (3, before + 5)]
    assert training.EMA_WARMUP == before
    assert [r["variant"].endswith(f"ema_warmup={before + 5}") for r in rows] == [False, True]
    assert all(np.isfinite(r["fidelity"]) for r in rows)


def test_few_rows_times_both_paths_and_restores_the_threshold(tmp_path, data_dir):
    if load_dataset("diabetes", data_dir, allow_download=False) is None:
        pytest.skip(f"dataset 'diabetes' is not in {data_dir}; pass --data-dir")
    import skdistill._student as student_module
    from benchmarks.few_rows import ROW_COUNTS, main

    threshold = student_module.FEW_ROWS
    main(["--dataset", "diabetes", "--rounds", "1", "--calls", "2",
          "--data-dir", str(data_dir), "--out-dir", str(tmp_path)])
    assert student_module.FEW_ROWS == threshold
    rows = [line.split("|")[1:-1] for line in
            (tmp_path / "few_rows.md").read_text().splitlines() if line.startswith("| student")]
    assert [int(row[1]) for row in rows] == 2 * list(ROW_COUNTS)
    for _, _, on, off, ratio in rows:
        on_us, off_us = (float(c.strip().rstrip(" us")) for c in (on, off))
        assert on_us > 0 and off_us > 0
        assert math.isclose(float(ratio), on_us / off_us, rel_tol=0.05, abs_tol=0.01)


def test_ensemble_selection_weights_the_member_that_fits_the_labels():
    import numpy as np

    from benchmarks.teacher_weights import ensemble_selection

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=200)
    good = np.full((200, 3), 0.1)
    good[np.arange(200), y] = 0.8
    noise = rng.dirichlet(np.ones(3), size=200)
    w = ensemble_selection(np.stack([noise, good, noise[::-1]]), y, rounds=10)
    assert w.sum() == pytest.approx(1.0)
    assert w[1] == w.max() and w[1] > 0.5
    # Rounds with replacement: weights come in multiples of 1/rounds.
    assert np.allclose(w * 10, np.round(w * 10))


def test_teacher_weights_compares_combinations_of_the_members(tmp_path, data_dir):
    if load_dataset("diabetes", data_dir, allow_download=False) is None:
        pytest.skip(f"dataset 'diabetes' is not in {data_dir}; pass --data-dir")
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    from benchmarks.teacher_weights import main

    main(["--datasets", "diabetes", "--seeds", "1", "--data-dir", str(data_dir),
          "--out-dir", str(tmp_path)],
         make_teachers=lambda seed: [("lr", LogisticRegression(max_iter=300)),
                                     ("tree", DecisionTreeClassifier(max_depth=4,
                                                                     random_state=seed))])
    df = pd.read_csv(tmp_path / "teacher_weights.csv").set_index("variant")
    assert df.accuracy.between(0.5, 1.0).all()
    # Two members: leaving one out is the other alone.
    assert df.accuracy["without lr"] == df.accuracy["tree alone"]
    assert df.accuracy["without tree"] == df.accuracy["lr alone"]
    md = (tmp_path / "teacher_weights.md").read_text()
    assert "| equal (default) |" in md and "| diabetes | 0 | lr " in md


def test_label_cache_page_reports_the_saving_per_candidate(tmp_path):
    import pandas as pd

    from benchmarks.label_cache import main

    pd.DataFrame([
        {"dataset": "a", "transfer_rows": 100_000, "labelled_wall": 70.0, "cached_wall": 10.0,
         "labelled_student": 9.0, "cached_student": 9.5, "same_model": True},
        {"dataset": "b", "transfer_rows": 50_000, "labelled_wall": 12.0, "cached_wall": 8.0,
         "labelled_student": 7.0, "cached_student": 7.0, "same_model": False},
    ]).to_csv(tmp_path / "runs.csv", index=False)
    main(["--render", str(tmp_path / "runs.csv"), "--out-dir", str(tmp_path)])
    md = (tmp_path / "label_cache.md").read_text()
    # Outside the student, 61 s fell to 0.5 s on a (60.5 s saved) and 5 s to 1 s on b:
    # a median of 32.25 s, the largest on a; wall ratios 7x and 1.5x.
    assert "median saving 32.2 s per candidate (largest 60.5 s, a), median ratio 4.25x" in md
    assert "the same model from both fits on 1 of 2" in md
    assert "| a | 100,000 | 70.0 | 10.0 | 60.5 | 9.0 | 9.5 | yes |" in md
    assert "(37 candidates) on each table would save 19.9 minutes" in md


def test_time_limit_epoch_size_levers_draw_fewer_synthetic_rows_and_restore_the_rule():
    from types import SimpleNamespace

    import skdistill._base as base
    from benchmarks.time_limit import LEVERS, epoch_size

    rule = base._epoch_rows
    transfer = SimpleNamespace(n_real=100, n_extra=2000, n_synthetic=2000)
    assert rule(transfer) == 600  # the default: 100 real rows and 5 synthetic rows each
    schedules = [p["synthetic_rows_per_epoch"] for p in LEVERS["epoch_size"].values()
                 if "synthetic_rows_per_epoch" in p]
    sizes = []
    for schedule in schedules:
        with epoch_size(schedule):
            rows = base._epoch_rows(transfer)
            sizes.append([rows(epoch) for epoch in (1, 40, 41, 200)])
        assert base._epoch_rows is rule
    assert sizes == [[300] * 4, [600, 600, 200, 200]]
    with epoch_size(None):
        assert base._epoch_rows is rule


def test_every_script_makes_a_missing_out_dir_before_it_runs(tmp_path):
    # A run of many minutes used to end in "Cannot save file into a non-existent
    # directory" when --out-dir named a new folder: the folder is made when the options
    # are read.
    import pandas as pd

    from benchmarks._common import REPO_ROOT
    from benchmarks.time_limit import main

    scripts = sorted((REPO_ROOT / "benchmarks").glob("*.py"))
    declared = {}  # script: the type of its --out-dir
    for script in scripts:
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument" \
                    and node.args and getattr(node.args[0], "value", None) == "--out-dir":
                kind = [k.value for k in node.keywords if k.arg == "type"]
                declared[script.name] = getattr(kind[0], "id", None) if kind else None
    assert len(declared) >= 10
    assert set(declared.values()) == {"output_folder"}, declared
    rows = [{"dataset": "a", "seed": 0, "variant": v, "limit": lim, "fidelity": 0.95,
             "accuracy": 0.8, "teacher_accuracy": 0.8, "student_seconds": 2.0, "epochs": 10,
             "stopped_by": "max_epochs"} for v, lim in (("default", None), ("0.1.0", None))]
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    out = tmp_path / "new" / "folder"
    main(["--render", str(tmp_path / "runs.csv"), "--out-dir", str(out), "--tag", "page"])
    assert (out / "page.md").exists()


@pytest.mark.parametrize("script, argv", [
    ("run", ["--datasets", "diabetes", "--no-download"]),
    ("ablate", ["--datasets", "diabetes"]),
    ("regression", ["--datasets", "537_houses"]),
    ("coverage", ["--datasets", "phoneme"]),
])
def test_a_missing_data_folder_writes_nothing(tmp_path, monkeypatch, script, argv):
    # An empty page would replace the committed one in benchmarks/results; ablate and
    # regression used to try OpenML first, and coverage could only write into the repo.
    import importlib
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("a benchmark tried the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    main = importlib.import_module(f"benchmarks.{script}").main
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="No dataset was found in .*nothing written"):
        main(argv + ["--data-dir", str(tmp_path / "missing"), "--out-dir", str(out)])
    assert list(out.iterdir()) == []

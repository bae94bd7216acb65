"""Turn benchmark rows into the committed results: CSV, markdown, summary and plots."""

import json
from pathlib import Path

import numpy as np

from benchmarks._common import EARLIER_DEFAULTS, command_line, versions_text

#: The targets, checked by every full or quick run: ``(bound, kind)`` with kind ">=" or
#: "<=". The student issue (#11) added fidelity, gain, the worst retention, the
#: LogisticRegression latency yardstick and the student's fit-time budget.
TARGETS = {
    "median_retention": (0.995, ">="),
    "min_retention": (0.97, ">="),
    "share_student_ge_teacher": (1 / 3, ">="),
    "share_beats_hard": (13 / 15, ">="),
    "median_fidelity": (0.97, ">="),
    "median_gain_retained": (0.8, ">="),
    "median_latency_ratio": (100.0, ">="),
    "median_size_ratio": (100.0, ">="),
    "median_latency_vs_logreg": (1.0, "<="),
    "max_student_bytes": (1_000_000, "<="),
    "student_fit_time_vs_v010": (2.0, "<="),
}

#: Two means closer than this are a tie. The CSVs keep 6 significant digits, so a report
#: merged from them sees equal means of a table's seeds differ by up to 5e-7.
TIE = 1e-6

_ANALYSIS_MARK = "<!-- analysis: kept when the harness rewrites this file -->"


def per_dataset(df):
    """Mean over seeds per dataset and method; speed columns from the measured seed."""
    import pandas as pd

    metrics = ["accuracy", "log_loss", "ece", "fidelity", "fit_seconds",
               "teacher_fit_seconds", "student_fit_seconds", "latency_s",
               "throughput_rows_s", "pickle_bytes", "compile_seconds"]
    metrics += [c for c in ("epochs",) if c in df.columns]  # not in results before 0.4.1
    agg = df.groupby(["dataset", "method"], sort=False)[metrics].mean()
    meta = df.groupby("dataset", sort=False)[["n_rows", "n_train", "n_test", "n_features",
                                              "n_classes", "subsampled"]].first()
    meta["n_seeds"] = df.groupby("dataset", sort=False)["seed"].nunique()
    member = df[df.method == "best_member"].groupby("dataset")["member"].agg(
        lambda s: "/".join(sorted(set(s))))
    meta["best_member"] = member
    return agg, meta, pd


def student_stats(acc, fid, lat, size, method):
    """Accuracy, fidelity, latency and size figures of one student method against the teacher."""
    retention = acc[method] / acc["teacher"]
    gap = acc["teacher"] - acc["hard_label"]
    gain = ((acc[method] - acc["hard_label"]) / gap).where(gap.abs() > TIE)
    n = len(acc)
    beats = int((acc[method] > acc["hard_label"] + TIE).sum())
    ge_teacher = int((acc[method] >= acc["teacher"] - TIE).sum())
    s = {
        "median_retention": float(retention.median()),
        "min_retention": float(retention.min()),
        "n_student_ge_teacher": ge_teacher,
        "share_student_ge_teacher": ge_teacher / n if n else float("nan"),
        "n_beats_hard": beats,
        "n_ties_hard": int(((acc[method] - acc["hard_label"]).abs() <= TIE).sum()),
        "share_beats_hard": beats / n if n else float("nan"),
        "median_gain_retained": float(gain.median()),
        "median_fidelity": float(fid[method].median()),
        # Means beside the medians: a median of 15 tables moves with whichever table is
        # in the middle, and one table's fidelity moves by a point from training noise.
        "mean_fidelity": float(fid[method].mean()),
        "mean_retention": float(retention.mean()),
        "median_latency_ratio": float((lat["teacher"] / lat[method]).median()),
        "median_size_ratio": float((size["teacher"] / size[method]).median()),
        "median_student_latency_us": float(lat[method].median() * 1e6),
        "max_student_bytes": float(size[method].max()),
        "median_accuracy_delta_vs_teacher": float((acc[method] - acc["teacher"]).median()),
    }
    if "logreg" in lat:
        s["median_latency_vs_logreg"] = float((lat[method] / lat["logreg"]).median())
    per = {"retention": retention.to_dict(), "gain_retained": gain.to_dict(),
           "latency_ratio": (lat["teacher"] / lat[method]).to_dict(),
           "size_ratio": (size["teacher"] / size[method]).to_dict()}
    return s, per


def summarize(df):
    agg, meta, pd = per_dataset(df)
    acc = agg["accuracy"].unstack()
    lat = agg["latency_s"].unstack()
    size = agg["pickle_bytes"].unstack()
    fid = agg["fidelity"].unstack()
    fit = agg["fit_seconds"].unstack()
    s, per = student_stats(acc, fid, lat, size, "distilled")
    s["n_datasets"] = len(meta.index)
    s["median_fidelity_hard_label"] = float(fid["hard_label"].median())
    s["median_student_fit_seconds"] = float(fit["distilled"].median())
    for method, key, _, _ in EARLIER_DEFAULTS:
        if method in acc:
            s[key], _ = student_stats(acc, fid, lat, size, method)
            s[key]["n_fidelity_below_current"] = int((fid["distilled"] > fid[method] + TIE).sum())
            s[key]["n_accuracy_below_current"] = int((acc["distilled"] > acc[method] + TIE).sum())
            s[key]["median_student_fit_seconds"] = float(fit[method].median())
            # Only the time against 0.1.0's has a target; the others are comparisons.
            s[f"student_fit_time_vs_{key}"] = float(
                fit["distilled"].median() / fit[method].median())
    if "lgbm_lleaves" in lat:
        compiled = lat["lgbm_lleaves"].dropna()
        if len(compiled):
            s["median_lleaves_latency_us"] = float(compiled.median() * 1e6)
            s["median_student_latency_us_same_datasets"] = float(
                lat.loc[compiled.index, "distilled"].median() * 1e6)
    s["checks"] = []
    for key, (bound, kind) in TARGETS.items():
        if key not in s:
            continue
        value = s[key]
        met = bool(np.isfinite(value) and (value >= bound if kind == ">=" else value <= bound))
        s["checks"].append(dict(metric=key, value=value, target=bound, kind=kind, met=met))
    s["per_dataset"] = per
    return s, agg, meta, acc


def _fmt_value(key, value):
    if key.startswith("share"):
        return f"{value:.0%}"
    if key in ("median_latency_ratio", "median_size_ratio"):
        return f"{value:.0f}x"
    if key == "median_latency_vs_logreg" or key.startswith("student_fit_time_vs_"):
        return f"{value:.2f}x"
    if key == "max_student_bytes":
        return f"{value / 1000:.0f} kB"
    if key == "median_gain_retained":
        return f"{value:.2f}"
    return f"{value:.2%}"


_LABELS = {
    "median_retention": "median accuracy retention (student/teacher)",
    "min_retention": "lowest accuracy retention of any dataset",
    "share_student_ge_teacher": "student >= teacher",
    "share_beats_hard": "distillation beats hard labels",
    "median_fidelity": "median fidelity (student agrees with teacher)",
    "median_gain_retained": "median gain retained (student-hard)/(teacher-hard)",
    "median_latency_ratio": "median single-row latency ratio teacher/student",
    "median_size_ratio": "median pickle size ratio teacher/student",
    "median_latency_vs_logreg": "median single-row latency student/LogisticRegression",
    "max_student_bytes": "largest student pickle",
    **{f"student_fit_time_vs_{key}": f"median student fit time, current/{release} defaults"
       for _, key, release, _ in EARLIER_DEFAULTS},
}


def summary_text(s, title):
    # The earlier defaults measured in the same run, as extra columns.
    olds = [(name, s[key]) for _, key, name, _ in EARLIER_DEFAULTS if key in s]
    head = (f"  {'':<58} {'current':>9}  " + "".join(f"{name:>9}  " for name, _ in olds)
            + "target") if olds else ""
    lines = [f"Summary ({title}, {s['n_datasets']} datasets)"] + ([head] if head else [])
    for c in s["checks"]:
        key = c["metric"]
        label = _LABELS[key]
        if key == "share_student_ge_teacher":
            label += f" ({s['n_student_ge_teacher']}/{s['n_datasets']} datasets)"
        if key == "share_beats_hard":
            label += f" ({s['n_beats_hard']}/{s['n_datasets']}, {s['n_ties_hard']} ties)"
        was = "".join(f"{_fmt_value(key, old[key]) if key in old else '':>9}  "
                      for _, old in olds)
        target = f"{c['kind']} {_fmt_value(key, c['target'])}"
        status = "MET" if c["met"] else "MISSED"
        lines.append(f"  {label:<58} {_fmt_value(key, c['value']):>9}  {was}"
                     f"{target:<9} {status}")
    for key, label in (("mean_fidelity", "mean fidelity (no target; steadier than the median)"),
                       ("mean_retention", "mean accuracy retention (no target)")):
        lines.append(f"  {label:<58} {s[key]:>9.2%}  "
                     + "".join(f"{old[key]:>9.2%}  " for _, old in olds))
    for _, key, name, _ in EARLIER_DEFAULTS:
        if key in s:
            label = f"tables where current is above {name}: fidelity, accuracy"
            lines.append(f"  {label:<58} {s[key]['n_fidelity_below_current']:>3}, "
                         f"{s[key]['n_accuracy_below_current']} of {s['n_datasets']}")
    for _, key, _, _ in EARLIER_DEFAULTS:
        fit_key = f"student_fit_time_vs_{key}"
        if fit_key in s and fit_key not in TARGETS:  # a target's line is among the checks
            lines.append(f"  {_LABELS[fit_key]:<58} {_fmt_value(fit_key, s[fit_key]):>9}")
    lines.append(f"  {'median fidelity of the hard-label student':<58} "
                 f"{s['median_fidelity_hard_label']:>9.2%}")
    lines.append(f"  {'median student single-row latency':<58} "
                 f"{s['median_student_latency_us']:>6.0f} us"
                 + "".join(f"  {old['median_student_latency_us']:>6.0f} us" for _, old in olds))
    if olds:
        lines.append(f"  {'median student fit time':<58} "
                     f"{s['median_student_fit_seconds']:>8.1f}s"
                     + "".join(f"  {old['median_student_fit_seconds']:>8.1f}s"
                               for _, old in olds))
    if "median_lleaves_latency_us" in s:
        lines.append(f"  {'median lleaves-compiled LightGBM latency (same datasets)':<58} "
                     f"{s['median_lleaves_latency_us']:>6.0f} us (student "
                     f"{s['median_student_latency_us_same_datasets']:.0f} us)")
    return "\n".join(lines)


def _fmt_time(s):
    if not np.isfinite(s):
        return "-"
    return f"{s * 1e6:.0f} us" if s < 1e-3 else f"{s * 1e3:.1f} ms"


def _fmt_bytes(b):
    if not np.isfinite(b):
        return "-"
    return f"{b / 1024:.0f} KB" if b < 1024 ** 2 else f"{b / 1024 ** 2:.1f} MB"


def markdown(s, agg, meta, acc, env, skipped, tag):
    lines = [f"# Benchmark results: `{tag}`", ""]
    if not env.get("complete", True):
        lines += [f"**PARTIAL RESULTS: {env.get('progress', '')} finished when this file was "
                  "written.**", ""]
    lines += [
        command_line(env),
        f"- Date: {env['date']}; wall time {env.get('wall_seconds', float('nan')) / 60:.1f} min"
        + (f" (the longest of {env['shards']} shards run in parallel)" if env.get("shards")
           else ""),
        f"- Machine: {env['machine']}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in env['load_average_at_start'] or [])} "
        "(shared with other jobs: timings are noisy, so latencies are medians of "
        f"{env['latency_calls']} calls and every ratio is measured side by side in this run)",
        f"- Threads: {env['threads']}",
        "- Versions: " + versions_text(env),
        f"- Protocol: stratified 75/25 split per seed, the same for every method; several "
        f"seeds below {env.get('small_below', 5000)} rows, else 1; training sets above "
        f"{env['max_train_rows']} rows and test "
        f"sets above {env['max_test_rows']} rows subsampled (stratified); accuracies are means "
        "over seeds, speed and size from seed 0.",
        f"- Data: `{env['data_dir']}`",
    ]
    for msg in skipped:
        lines.append(f"- Skipped: {msg}")
    lines += ["", "## Summary against the targets", "", "```", summary_text(s, tag), "```", ""]

    olds = [(method, name) for method, _, name, _ in EARLIER_DEFAULTS if method in acc]
    lines += ["## Accuracy per dataset", "",
              "| dataset | train / test rows | seeds | teacher | distilled | "
              + "".join(f"{name} defaults | " for _, name in olds) + "hard-label | "
              "sklearn MLP | best member | fidelity | "
              + "".join(f"fidelity {name} | " for _, name in olds) + "gain retained |",
              "|---|---|---|---|---|---|---|---|---|---|" + "---|---|" * len(olds)]
    gain = s["per_dataset"]["gain_retained"]
    fid = agg["fidelity"].unstack()
    for d, m in meta.iterrows():
        rows = f"{int(m.n_train)} / {int(m.n_test)}" + (" (sub)" if m.subsampled else "")
        g = gain.get(d, float("nan"))
        lines.append(
            f"| {d} | {rows} | {int(m.n_seeds)} | {acc.loc[d, 'teacher']:.4f} | "
            f"{acc.loc[d, 'distilled']:.4f} | "
            + "".join(f"{acc.loc[d, method]:.4f} | " for method, _ in olds)
            + f"{acc.loc[d, 'hard_label']:.4f} | "
            f"{acc.loc[d, 'sklearn_mlp']:.4f} | {acc.loc[d, 'best_member']:.4f} "
            f"({m.best_member}) | {fid.loc[d, 'distilled']:.4f} | "
            + "".join(f"{fid.loc[d, method]:.4f} | " for method, _ in olds)
            + f"{'-' if not np.isfinite(g) else f'{g:.2f}'} |")
    lines += ["", "Best member: the ensemble member with the best *test* accuracy, an "
              "optimistic (oracle) pick.", ""]

    ll = agg["log_loss"].unstack()
    ece = agg["ece"].unstack()
    lines += ["## Log-loss and calibration (ECE, 15 bins)", "",
              "| dataset | teacher log-loss | distilled | hard-label | sklearn MLP | "
              "teacher ECE | distilled | hard-label | sklearn MLP |",
              "|---|---|---|---|---|---|---|---|---|"]
    for d in meta.index:
        lines.append(
            f"| {d} | " + " | ".join(f"{ll.loc[d, mth]:.4f}" for mth in
                                      ("teacher", "distilled", "hard_label", "sklearn_mlp"))
            + " | " + " | ".join(f"{ece.loc[d, mth]:.4f}" for mth in
                                 ("teacher", "distilled", "hard_label", "sklearn_mlp")) + " |")

    lat = agg["latency_s"].unstack()
    size = agg["pickle_bytes"].unstack()
    thr = agg["throughput_rows_s"].unstack()
    fit = agg["fit_seconds"].unstack()
    epochs = agg["epochs"].unstack() if "epochs" in agg else None
    lines += ["", "## Speed, size and fit time (seed 0)", "",
              "| dataset | teacher 1-row | student 1-row | ratio | LightGBM 1-row | "
              "lleaves 1-row | teacher size | student size | ratio | teacher rows/s | "
              "student rows/s | teacher fit | student fit |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in meta.index:
        ll_lat = lat.loc[d, "lgbm_lleaves"] if "lgbm_lleaves" in lat else float("nan")
        lines.append(
            f"| {d} | {_fmt_time(lat.loc[d, 'teacher'])} | {_fmt_time(lat.loc[d, 'distilled'])} | "
            f"{lat.loc[d, 'teacher'] / lat.loc[d, 'distilled']:.0f}x | "
            f"{_fmt_time(lat.loc[d, 'lgbm_member']) if 'lgbm_member' in lat else '-'} | "
            f"{_fmt_time(ll_lat)} | {_fmt_bytes(size.loc[d, 'teacher'])} | "
            f"{_fmt_bytes(size.loc[d, 'distilled'])} | "
            f"{size.loc[d, 'teacher'] / size.loc[d, 'distilled']:.0f}x | "
            f"{thr.loc[d, 'teacher']:,.0f} | {thr.loc[d, 'distilled']:,.0f} | "
            f"{fit.loc[d, 'teacher']:.1f} s | {fit.loc[d, 'distilled']:.1f} s"
            + (f", {epochs.loc[d, 'distilled']:.0f} epochs |" if epochs is not None else " |"))
    lines += ["", "Teacher fit time includes the 5-fold cross-fitting of the soft targets "
              "and the refit on all rows (kept for the comparison). Fit times"
              + (" and the student's epochs" if epochs is not None else "")
              + " are means over the seeds. lleaves: the ensemble's "
              "LightGBM member compiled with lleaves (binary datasets only: LLVM compile time "
              "grows with the number of trees; the compile seconds are in the CSV).", ""]
    return "\n".join(lines)


def plots(df, agg, meta, acc, out_dir, tag):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat = agg["latency_s"].unstack()
    datasets = list(meta.index)
    style = {"teacher": ("tab:red", "s"), "distilled": ("tab:blue", "o"),
             "hard_label": ("tab:gray", "^"), "sklearn_mlp": ("tab:green", "v"),
             "lgbm_member": ("tab:orange", "D")}
    ncol = min(4, len(datasets))
    nrow = int(np.ceil(len(datasets) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False)
    for ax, d in zip(axes.ravel(), datasets):
        for mth, (color, marker) in style.items():
            if mth in lat and np.isfinite(lat.loc[d, mth]):
                ax.scatter(lat.loc[d, mth] * 1e3, acc.loc[d, mth], c=color, marker=marker,
                           s=36, label=mth)
        if "lgbm_lleaves" in lat and np.isfinite(lat.loc[d, "lgbm_lleaves"]):
            ax.scatter(lat.loc[d, "lgbm_lleaves"] * 1e3, acc.loc[d, "lgbm_member"],
                       facecolors="none", edgecolors="tab:orange", marker="D", s=36,
                       label="lgbm (lleaves)")
        ax.set_xscale("log")
        ax.set_title(d, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(datasets):]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.supxlabel("single-row predict_proba latency (ms, log scale)", fontsize=9, y=0.04)
    fig.supylabel("test accuracy", fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(out_dir / f"{tag}_accuracy_vs_latency.png", dpi=80)
    plt.close(fig)

    methods = [m for m in ("distilled", "hard_label", "sklearn_mlp", "best_member",
                           "lgbm_member") if m in acc]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(datasets) + 1.4))
    ypos = np.arange(len(datasets))
    colors = {"distilled": "tab:blue", "hard_label": "tab:gray", "sklearn_mlp": "tab:green",
              "best_member": "tab:purple", "lgbm_member": "tab:orange"}
    for j, mth in enumerate(methods):
        delta = (acc.loc[datasets, mth] - acc.loc[datasets, "teacher"]) * 100
        ax.scatter(delta, ypos + (j - len(methods) / 2) * 0.12, c=colors[mth], s=18, label=mth)
    ax.axvline(0, color="tab:red", lw=1, label="teacher")
    ax.set_yticks(ypos)
    ax.set_yticklabels([f"{d} ({acc.loc[d, 'teacher']:.3f})" for d in datasets], fontsize=8)
    ax.set_xlabel("test accuracy minus the teacher's (percentage points); "
                  "teacher accuracy in brackets", fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(out_dir / f"{tag}_accuracy.png", dpi=80)
    plt.close(fig)


def write_outputs(rows, env, skipped, out_dir, tag, plots=True):
    import pandas as pd

    out_dir = Path(out_dir)
    df = pd.DataFrame(rows)
    df.to_csv(out_dir / f"{tag}.csv", index=False, float_format="%.6g")
    s, agg, meta, acc = summarize(df)
    text = summary_text(s, tag)
    md_path = out_dir / f"{tag}.md"
    analysis = ""
    if md_path.exists():
        old = md_path.read_text()
        if _ANALYSIS_MARK in old:
            analysis = old[old.index(_ANALYSIS_MARK):]
    md = markdown(s, agg, meta, acc, env, skipped, tag)
    md_path.write_text(md + ("\n" + analysis if analysis else ""))
    summary = {k: v for k, v in s.items()}
    summary["environment"] = env
    (out_dir / f"{tag}_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if plots:
        globals()["plots"](df, agg, meta, acc, out_dir, tag)
    summary["text"] = text
    return summary

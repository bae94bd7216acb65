"""Temperature and the distillation losses (torch).

Imported only by the training loop, so ``import skdistill`` never imports torch.
"""

import torch
import torch.nn.functional as F

#: Smallest probability kept before taking a log. A forest often predicts exact zeros;
#: log(0) would make the softened target undefined, so zeros become this floor.
PROBA_EPS = 1e-6


def soften_probabilities(proba, temperature):
    """Teacher probabilities at temperature ``T``: ``softmax(log(clip(p, eps)) / T)``.

    Hinton et al. soften *logits*: ``softmax(z / T)``. Tree ensembles and averaged
    ensembles only expose probabilities, but ``log p`` differs from the logits only by
    a per-row constant, which softmax ignores. So ``log p`` plays the role of the
    logits exactly, and the clip keeps it finite where a teacher says 0.

    Parameters
    ----------
    proba : Tensor of shape (n_rows, n_classes)
    temperature : float

    Returns
    -------
    Tensor of shape (n_rows, n_classes)
    """
    log_p = torch.log(proba.clamp_min(PROBA_EPS))
    return torch.softmax(log_p / temperature, dim=1)


def distillation_loss(logits, soft_target, y, labeled, weight, *, temperature, alpha):
    """Per-batch distillation loss for a classifier student.

    ``alpha * T**2 * KL(teacher_T || student_T) + (1 - alpha) * CE(y, student)``,
    averaged over rows with ``weight``. The T² factor keeps the soft term's gradient
    on the same scale as the hard term's when T changes (Hinton et al., 2015, §2).
    Rows with ``labeled == False`` (synthetic or unlabeled transfer rows) have no true
    label, so they contribute the soft term alone.

    Parameters
    ----------
    logits : Tensor (n, k)
        Student outputs.
    soft_target : Tensor (n, k)
        Teacher probabilities already softened at ``temperature``.
    y : LongTensor (n,)
        Encoded labels; ignored where ``labeled`` is False.
    labeled : BoolTensor (n,)
    weight : Tensor (n,)
        Per-row sample weights.
    """
    T = temperature
    row = torch.zeros_like(weight)
    if alpha > 0:
        log_student_T = F.log_softmax(logits / T, dim=1)
        kl = F.kl_div(log_student_T, soft_target, reduction="none").sum(dim=1)
        hard_share = torch.where(labeled, torch.full_like(weight, alpha), torch.ones_like(weight))
        row = row + hard_share * (T * T) * kl
    if alpha < 1:
        ce = F.cross_entropy(logits, y.clamp_min(0), reduction="none")
        row = row + torch.where(labeled, (1.0 - alpha) * ce, torch.zeros_like(ce))
    return (row * weight).sum() / weight.sum().clamp_min(1e-12)


def regression_loss(output, teacher_target, y, labeled, weight, *, alpha):
    """``alpha * MSE(student, teacher) + (1 - alpha) * MSE(student, y)``, row-weighted.

    Targets are standardized by the caller. Unlabeled rows use the teacher term alone.
    """
    teacher_term = ((output - teacher_target) ** 2).mean(dim=1)
    true_term = ((output - y) ** 2).mean(dim=1)
    labeled_share = torch.where(labeled, torch.full_like(weight, alpha), torch.ones_like(weight))
    row = labeled_share * teacher_term + torch.where(
        labeled, (1.0 - alpha) * true_term, torch.zeros_like(true_term)
    )
    return (row * weight).sum() / weight.sum().clamp_min(1e-12)

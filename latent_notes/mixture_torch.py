"""The PyTorch backend of :class:`latent_notes.mixture.GaussianMixture` (``backend="torch"``).

The same chunked pass as the NumPy path (``latent_notes.mixture._chunk_log_joint``
and ``GaussianComponentsMixin._gaussian_e_pass``), written
with torch operations in float64 on a chosen device: the data are copied to the device
once per :meth:`~latent_notes.mixture.GaussianMixture.fit`, each E-step returns the
``(K,)`` and ``(K, d)`` sufficient statistics to the host, and the M-step (a few
``K x d`` operations) runs in NumPy, shared with the NumPy path. The exactness
fallbacks are the same: the direct form of a squared distance where the expansion's
rounding could exceed ``1e-10``, and the M-step's second pass where a variance lost
more than 8 digits (that pass asks ``TorchData.e_pass``'s ``resp_of`` for the
responsibilities of each chunk, recomputed on the device).
"""

from __future__ import annotations

import numpy as np
import torch

from .mixture import _Statistics

__all__ = ["resolve_device"]  # TorchData is the estimator's internal data holder

# Rows per chunk: larger than the NumPy path's, as a GPU needs large kernels to be busy.
CHUNK_ROWS = {"cpu": 1 << 14, "cuda": 1 << 20}
_EPS = float(np.finfo(float).eps)


def resolve_device(device):
    """The ``torch.device`` named by ``device`` ("auto", "cpu", "cuda", "cuda:1", ...).

    Raises
    ------
    ValueError
        For a name torch does not know, a device type other than CPU or CUDA, or
        CUDA where it is not available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        resolved = device
    elif isinstance(device, str):
        try:
            resolved = torch.device(device)
        except RuntimeError as error:
            raise ValueError(
                f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<index>'; got {device!r}"
            ) from error
    else:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<index>'; got {device!r} "
            f"of type {type(device).__name__}"
        )
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be a CPU or CUDA device; got {device!r}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} asks for CUDA, but torch finds no CUDA device here "
                f"(torch {torch.__version__}); use device='cpu' or 'auto'"
            )
        index = resolved.index if resolved.index is not None else 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: there are {torch.cuda.device_count()} CUDA device(s)"
            )
    return resolved


class TorchData:
    """The data of one fit on a torch device, and the E-step pass over them."""

    def __init__(self, X, device, covariance_type):
        self.device = resolve_device(device)
        X = np.asarray(X, dtype=np.float64)
        # as_tensor shares a writable array's memory on the CPU (no copy); torch
        # needs a copy of a read-only one.
        self.X = (torch.as_tensor(X) if X.flags.writeable else torch.tensor(X)).to(self.device)
        self.spherical = covariance_type == "spherical"
        self.chunk = CHUNK_ROWS[self.device.type]

    def _tensor(self, a):
        return torch.as_tensor(np.ascontiguousarray(a, dtype=np.float64), device=self.device)

    def _prepared(self, model):
        p = model._gaussian_prepared()
        return {name: self._tensor(getattr(p, name))
                for name in ("means", "prec", "prec_kd", "prec_t", "shift", "cross", "m2", "const")}

    def _chunk_log_joint(self, p, Xb):
        Xc = Xb - p["shift"]
        if self.spherical:
            sq = (Xc * Xc).sum(dim=1)
            x2 = sq[:, None] * p["prec"]
        else:
            sq = Xc * Xc
            x2 = sq @ p["prec_t"]
        maha = torch.addmm(x2 + p["m2"], Xc, p["cross"]).clamp_(min=0.0)
        rounding = 8 * _EPS * (x2.max(dim=0).values + p["m2"])
        flagged = torch.nonzero(~(rounding <= 1e-10)).flatten().tolist()
        for k in flagged:  # the direct form, as in the NumPy path
            diff = Xb - p["means"][k]
            maha[:, k] = (diff * diff) @ p["prec_kd"][k]
        return p["const"] - 0.5 * maha, sq

    @staticmethod
    def _responsibilities(log_joint):
        top = log_joint.max(dim=1, keepdim=True).values
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        unnormalised = torch.exp(log_joint - top)
        total = unnormalised.sum(dim=1, keepdim=True)
        return unnormalised / total, torch.log(total).squeeze(1) + top.squeeze(1)

    def e_pass(self, model):
        """The E-step's :class:`~latent_notes.mixture._Statistics` and ``log p(X | theta)``."""
        p = self._prepared(model)
        X = self.X
        K, d = model.n_components, X.shape[1]
        nk = torch.zeros(K, dtype=torch.float64, device=self.device)
        s1 = torch.zeros((K, d), dtype=torch.float64, device=self.device)
        s2 = torch.zeros(K if self.spherical else (K, d), dtype=torch.float64, device=self.device)
        log_lik = torch.zeros((), dtype=torch.float64, device=self.device)
        for start in range(0, X.shape[0], self.chunk):
            Xb = X[start:start + self.chunk]
            log_joint, sq = self._chunk_log_joint(p, Xb)
            r, log_px = self._responsibilities(log_joint)
            log_lik += log_px.sum()
            nk += r.sum(dim=0)
            s1 += r.T @ Xb
            s2 += r.T @ sq
        chunk = self.chunk

        def resp_of(rows):
            # The NumPy M-step asks in NumPy-sized slices; answer each from the device.
            Xb = X[rows.start:rows.stop]
            out = [self._responsibilities(self._chunk_log_joint(p, Xb[i:i + chunk])[0])[0]
                   for i in range(0, Xb.shape[0], chunk)]
            return torch.cat(out).cpu().numpy()

        host = [t.cpu().numpy() for t in (nk, s1, s2)]
        return _Statistics(*host, p["shift"].cpu().numpy(), resp_of), float(log_lik)

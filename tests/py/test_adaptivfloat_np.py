"""AdaptivFloat in libedgebert (through ctypes) against numpy re-implementations
written from the papers: the accelerator's AdaptivFloat<8,3> (per-tensor bias,
ties away from zero, truncation) and the AdaptivFloat paper's general
<n, n_exp> quantiser (ties to even)."""
import ctypes
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
fails = 0


def check(name, ok, why=""):
    global fails
    print(("PASS " + name) if ok else ("FAIL %s: %s" % (name, why)))
    fails += 0 if ok else 1


def find_lib():
    build = os.environ.get("EB_BUILD", "build")
    cands = [] if "san" in build else [os.path.join(ROOT, build, "libedgebert.so")]
    cands.append(os.path.join(ROOT, "build", "libedgebert.so"))  # sanitizer runs use the plain one
    for c in cands:
        if os.path.exists(c):
            return c
    return None


def np_af8(x, b, trunc):
    """Accelerator AF8 from the format definition, vectorised."""
    x = x.astype(np.float64)
    a = np.abs(x)
    minv = (1 + 1 / 16) * 2.0 ** (b - 10)
    maxv = (1 + 15 / 16) * 2.0 ** (b - 3)
    e = np.frexp(np.where(a > 0, a, 1))[1] - 1.0  # floor(log2 a), exactly
    frac = a / 2.0 ** e  # in [1, 2)
    m = np.floor((frac - 1) * 16) if trunc else np.floor((frac - 1) * 16 + 0.5)
    q = (1 + m / 16) * 2.0 ** e
    q = np.where(a < minv, minv, q)
    q = np.where(a < minv / 2, 0, q)
    q = np.minimum(q, maxv)
    return np.sign(x) * q


def np_af(x, nbits, n_exp):
    """The AdaptivFloat paper's quantiser (tensor-adaptive exponent range)."""
    n_mant = nbits - 1 - n_exp
    x = x.astype(np.float64)
    a = np.abs(x)
    exp_max = np.frexp(a.max())[1] - 1.0
    exp_min = exp_max - 2 ** n_exp + 1
    vmin = 2.0 ** exp_min * (1 + 2.0 ** -n_mant)
    vmax = 2.0 ** exp_max * (2 - 2.0 ** -n_mant)
    q = np.clip(a, vmin, vmax)
    e = np.frexp(q)[1] - 1.0
    scale = 2.0 ** (e - n_mant)
    q = np.minimum(np.round(q / scale) * scale, vmax)  # np.round: half to even
    q = np.where(a < vmin, vmin, q)
    q = np.where(a < vmin / 2, 0, q)
    return np.sign(x) * q


def main():
    path = find_lib()
    if not path:
        print("SKIP adaptivfloat_np: libedgebert.so not built")
        return 0
    lib = ctypes.CDLL(path)
    fp = ctypes.POINTER(ctypes.c_float)
    u8 = ctypes.POINTER(ctypes.c_uint8)
    lib.eb_af8_choose_bias.argtypes = [fp, ctypes.c_size_t]
    lib.eb_af8_encode.argtypes = [u8, fp, ctypes.c_size_t, ctypes.c_int, ctypes.c_int]
    lib.eb_af8_decode.argtypes = [fp, u8, ctypes.c_size_t, ctypes.c_int]
    lib.eb_af_quantize.argtypes = [fp, fp, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                   ctypes.c_void_p, ctypes.c_void_p]
    rng = np.random.default_rng(1)
    for trial in range(20):
        scale = 2.0 ** rng.integers(-8, 6)
        x = (rng.standard_normal(5000) * scale).astype(np.float32)
        x[::97] = 0
        xp = x.ctypes.data_as(fp)
        b = lib.eb_af8_choose_bias(xp, x.size)
        want_b = int(min(7, max(0, np.frexp(np.abs(x).max())[1] - 1 + 3)))
        ok = b == want_b
        for trunc in (0, 1):
            codes = np.zeros(x.size, np.uint8)
            lib.eb_af8_encode(codes.ctypes.data_as(u8), xp, x.size, b, trunc)
            dec = np.zeros(x.size, np.float32)
            lib.eb_af8_decode(dec.ctypes.data_as(fp), codes.ctypes.data_as(u8), x.size, b)
            ref = np_af8(x, b, trunc)
            bad = np.nonzero(dec.astype(np.float64) != ref)[0]
            if len(bad):
                ok = False
                i = bad[0]
                print("  af8 b=%d trunc=%d x=%r got %r want %r" % (b, trunc, x[i], dec[i], ref[i]))
        check("af8_vs_numpy_%d" % trial, ok)
    for nbits, n_exp in ((8, 3), (8, 4), (8, 2), (6, 2), (10, 4), (16, 5)):
        x = (rng.standard_normal(20000) * rng.uniform(0.01, 50)).astype(np.float32)
        out = np.zeros_like(x)
        rc = lib.eb_af_quantize(out.ctypes.data_as(fp), x.ctypes.data_as(fp), x.size, nbits,
                                n_exp, None, None)
        ref = np_af(x, nbits, n_exp)
        bad = np.nonzero(out.astype(np.float64) != ref)[0]
        check("af_%d_%d_vs_numpy" % (nbits, n_exp), rc == 0 and len(bad) == 0,
              "rc=%d, %d mismatches, first x=%r got %r want %r" %
              (rc, len(bad), x[bad[0]] if len(bad) else 0, out[bad[0]] if len(bad) else 0,
               ref[bad[0]] if len(bad) else 0))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())

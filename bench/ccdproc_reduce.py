"""The standard CCD reduction with astropy's ccdproc: the reference the TOROS
pipeline is compared with (tests) and raced against (benchmarks).

Usage: ccdproc_reduce.py NIGHT_DIR OUT_DIR [FLAT_FLOOR]

master bias  = median of the bias frames
master dark  = median of (dark - master bias), per exposure time
master flat  = median of the flats after bias and scaled-dark subtraction, each scaled by 1/its median, per filter
light'       = flat_correct(subtract_dark(subtract_bias(light)), flat, min_value=FLAT_FLOOR)
Products are written as float32 with the TOROS names.
"""
import glob
import os
import re
import sys

import numpy as np
from astropy import units as u
from astropy.io import fits
import ccdproc
from ccdproc import CCDData

night, out = sys.argv[1], sys.argv[2]
floor = float(sys.argv[3]) if len(sys.argv) > 3 else 0.01
os.makedirs(out, exist_ok=True)

KINDS = [(r"^(bias|zero)( ?frame)?$", "bias"), (r"^dark( ?frame)?$", "dark"),
         (r"^((sky|dome|twilight) ?)?flat( ?field| ?frame)?$", "flat"), (r"^(light|object|science)( ?frame)?$", "light")]


def kind_of(header):
    text = str(header.get("IMAGETYP", "")).strip().lower()
    for pattern, kind in KINDS:
        if re.match(pattern, text):
            return kind
    return None


frames = {"bias": [], "dark": [], "flat": [], "light": []}
for path in sorted(glob.glob(os.path.join(night, "*.fits"))):
    try:
        header = fits.getheader(path)
    except Exception:
        continue
    kind = kind_of(header)
    if kind:
        frames[kind].append(path)


def read(path):
    return CCDData.read(path, unit="adu")


def save(ccd, name):
    fits.writeto(os.path.join(out, name), np.asarray(ccd.data, dtype=np.float32), overwrite=True)


def seconds(t):
    return str(int(t)) if float(t).is_integer() else str(t)


bias = ccdproc.combine([read(p) for p in frames["bias"]], method="median") if frames["bias"] else None
if bias is not None:
    save(bias, "master_bias.fits")

darks = {}
by_time = {}
for p in frames["dark"]:
    by_time.setdefault(float(fits.getheader(p)["EXPTIME"]), []).append(p)
for t, paths in sorted(by_time.items()):
    cal = [ccdproc.subtract_bias(read(p), bias) if bias is not None else read(p) for p in paths]
    darks[t] = ccdproc.combine(cal, method="median")
    darks[t].header["EXPTIME"] = t
    save(darks[t], f"master_dark_{seconds(t)}s.fits")


def nearest_dark(t):
    if not darks:
        return None
    return darks[min(darks, key=lambda d: abs(d - t))]


def calibrate(ccd):
    if bias is not None:
        ccd = ccdproc.subtract_bias(ccd, bias)
    dark = nearest_dark(float(ccd.header["EXPTIME"]))
    if dark is not None:
        ccd = ccdproc.subtract_dark(ccd, dark, exposure_time="EXPTIME", exposure_unit=u.s, scale=True)
    return ccd


flats = {}
by_filter = {}
for p in frames["flat"]:
    by_filter.setdefault(str(fits.getheader(p).get("FILTER", "")).strip(), []).append(p)
for name, paths in sorted(by_filter.items()):
    cal = [calibrate(read(p)) for p in paths]
    scales = [1.0 / np.median(c.data) for c in cal]
    flats[name] = ccdproc.combine(cal, method="median", scale=scales)
    save(flats[name], f"master_flat_{name or 'nofilter'}.fits")

for p in frames["light"]:
    ccd = calibrate(read(p))
    flat = flats.get(str(ccd.header.get("FILTER", "")).strip())
    if flat is not None:
        ccd = ccdproc.flat_correct(ccd, flat, min_value=floor)
    save(ccd, "calib_" + os.path.basename(p))

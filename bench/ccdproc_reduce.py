"""The standard CCD reduction with astropy's ccdproc: the reference the TOROS
pipeline is compared with (tests) and raced against (benchmarks).

Usage: ccdproc_reduce.py NIGHT_DIR OUT_DIR [FLAT_FLOOR] [options]

master bias  = median of the bias frames
master dark  = median of (dark - master bias), per exposure time
master flat  = median of the flats after bias and scaled-dark subtraction, each scaled by 1/its median, per filter
light'       = flat_correct(subtract_dark(subtract_bias(light)), flat, min_value=FLAT_FLOOR)
Products are written as float32 with the TOROS names.

A frame with BIASSEC first goes through subtract_overscan(fits_section=BIASSEC,
overscan_axis=None, median=..., model=...) then trim_image(TRIMSEC, or DATASEC).

Options (the TOROS config each matches):
  --combine median|average|sum       Reduction: Combine
  --sigma-clip LOW,HIGH,CENTER       Reduction: Sigma Clip (CENTER mean or median: sigma_clip_func ma.mean or ma.median)
  --minmax MIN,MAX                   Reduction: MinMax Clip
  --flats-scaled-first               flats multiplied by their scales before combine (clipping sees scaled values,
                                     TOROS' order) instead of combine(scale=...) (ccdproc's: clipping before scaling)
  --overscan median|mean|clipped-mean   Reduction: Overscan: Estimate (clipped-mean is BANZAI's, in numpy here)
  --overscan-model N                 Reduction: Overscan: Model: polynomial N (Polynomial1D(N), LinearLSQFitter)
  --uncertainty                      each light's uncertainty too, as Output: Format mef's ERR: create_deviation of the
                                     signal above the master bias (GAIN, RDNOISE; else --gain, --readnoise,
                                     disregard_nan=True), carried through subtract_bias, subtract_dark and flat_correct
                                     with the masters' own (ccdproc's combine always gives those); every product
                                     written with its uncertainty in an ERR extension
  --gain G, --readnoise R            Reduction: Gain (e-/ADU) and Read Noise (e-) for frames without the cards
"""
import argparse
import glob
import os
import re

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.modeling import fitting, models
import ccdproc
from ccdproc import CCDData

parser = argparse.ArgumentParser()
parser.add_argument("night")
parser.add_argument("out")
parser.add_argument("floor", nargs="?", type=float, default=0.01)
parser.add_argument("--combine", default="median", choices=["median", "average", "sum"])
parser.add_argument("--sigma-clip", default=None)
parser.add_argument("--minmax", default=None)
parser.add_argument("--flats-scaled-first", action="store_true")
parser.add_argument("--overscan", default="median", choices=["median", "mean", "clipped-mean"])
parser.add_argument("--overscan-model", type=int, default=0)
parser.add_argument("--uncertainty", action="store_true")
parser.add_argument("--gain", type=float, default=1.0)
parser.add_argument("--readnoise", type=float, default=10.0)
args = parser.parse_args()
night, out, floor = args.night, args.out, args.floor
os.makedirs(out, exist_ok=True)

combine_options = {"method": args.combine}
if args.sigma_clip:
    low, high, center = args.sigma_clip.split(",")
    combine_options.update(sigma_clip=True, sigma_clip_low_thresh=float(low), sigma_clip_high_thresh=float(high),
                           sigma_clip_func={"mean": np.ma.mean, "median": np.ma.median}[center],
                           sigma_clip_dev_func=np.ma.std)
if args.minmax:
    low, high = args.minmax.split(",")
    combine_options.update(minmax_clip=True, minmax_clip_min=float(low), minmax_clip_max=float(high))

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


def clipped_mean_overscan(ccd, section):
    """BANZAI's sigma_clipped_mean of each line of the strip (3 robust sigma around the median), then the model."""
    strip = np.asarray(ccd[ccdproc.utils.slices.slice_from_string(section, fits_convention=True)].data, dtype=float)
    axis = 0 if strip.shape[1] > strip.shape[0] else 1
    median = np.median(strip, axis=axis, keepdims=True)
    deviation = np.abs(strip - median)
    robust = 1.4826 * np.median(deviation, axis=axis, keepdims=True)
    keep = deviation <= 3 * robust
    oscan = (strip * keep).sum(axis=axis) / keep.sum(axis=axis)
    if args.overscan_model:
        x = np.arange(len(oscan))
        oscan = fitting.LinearLSQFitter()(models.Polynomial1D(args.overscan_model), x, oscan)(x)
    subtracted = ccd.copy()
    subtracted.data = ccd.data - (oscan[:, None] if axis == 1 else oscan[None, :])
    return subtracted


def read(path):
    ccd = CCDData.read(path, unit="adu")
    biassec = ccd.header.get("BIASSEC")
    if biassec:
        if args.overscan == "clipped-mean":
            ccd = clipped_mean_overscan(ccd, biassec)
        else:
            model = models.Polynomial1D(args.overscan_model) if args.overscan_model else None
            ccd = ccdproc.subtract_overscan(ccd, fits_section=biassec, overscan_axis=None,
                                            median=args.overscan == "median", model=model)
    trimsec = ccd.header.get("TRIMSEC") or (ccd.header.get("DATASEC") if biassec else None)
    if trimsec:
        ccd = ccdproc.trim_image(ccd, fits_section=trimsec)
    return ccd


def save(ccd, name):
    data = fits.PrimaryHDU(np.asarray(ccd.data, dtype=np.float32))
    if args.uncertainty and ccd.uncertainty is not None:
        error = fits.ImageHDU(np.asarray(ccd.uncertainty.array, dtype=np.float32), name="ERR")
        fits.HDUList([data, error]).writeto(os.path.join(out, name), overwrite=True)
    else:
        data.writeto(os.path.join(out, name), overwrite=True)


def with_deviation(ccd):
    """The light's own uncertainty: create_deviation of its signal above the master bias (TOROS' ERR)."""
    gain = float(ccd.header.get("GAIN", args.gain))
    readnoise = float(ccd.header.get("RDNOISE", args.readnoise))
    signal = ccd.subtract(CCDData(bias.data, unit="adu")) if bias is not None else ccd
    deviation = ccdproc.create_deviation(signal, gain=gain * u.electron / u.adu, readnoise=readnoise * u.electron,
                                         disregard_nan=True)
    ccd.uncertainty = deviation.uncertainty
    return ccd


def seconds(t):
    return str(int(t)) if float(t).is_integer() else str(t)


bias = ccdproc.combine([read(p) for p in frames["bias"]], **combine_options) if frames["bias"] else None
if bias is not None:
    save(bias, "master_bias.fits")

darks = {}
by_time = {}
for p in frames["dark"]:
    by_time.setdefault(float(fits.getheader(p)["EXPTIME"]), []).append(p)
for t, paths in sorted(by_time.items()):
    cal = [ccdproc.subtract_bias(read(p), bias) if bias is not None else read(p) for p in paths]
    darks[t] = ccdproc.combine(cal, **combine_options)
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
    if args.flats_scaled_first:
        flats[name] = ccdproc.combine([c.multiply(s) for c, s in zip(cal, scales)], **combine_options)
    else:
        flats[name] = ccdproc.combine(cal, scale=scales, **combine_options)
    save(flats[name], f"master_flat_{name or 'nofilter'}.fits")

for p in frames["light"]:
    ccd = read(p)
    if args.uncertainty:
        ccd = with_deviation(ccd)
    ccd = calibrate(ccd)
    flat = flats.get(str(ccd.header.get("FILTER", "")).strip())
    if flat is not None:
        ccd = ccdproc.flat_correct(ccd, flat, min_value=floor)
    save(ccd, "calib_" + os.path.basename(p))

// The C boundary of FashionData's HDF5 layer: libhdf5 (serial) plus a few inline helpers for what Swift
// cannot import (HDF5 constants are macros that call H5open() or cast, e.g. H5T_NATIVE_INT64, H5P_DEFAULT).
#ifndef FASHIONVL_CHDF5_SHIM_H
#define FASHIONVL_CHDF5_SHIM_H

#include <hdf5/serial/hdf5.h>
#include <string.h>

// Property lists, selections and flags.
static inline hid_t fvl_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t fvl_h5s_all(void) { return H5S_ALL; }
static inline hid_t fvl_h5p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t fvl_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t fvl_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t fvl_h5p_dataset_access(void) { return H5P_DATASET_ACCESS; }
static inline hsize_t fvl_h5s_unlimited(void) { return H5S_UNLIMITED; }
static inline unsigned fvl_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned fvl_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }

// Types (valid after H5open()).
static inline hid_t fvl_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t fvl_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t fvl_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t fvl_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t fvl_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t fvl_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t fvl_h5t_c_s1(void) { return H5T_C_S1; }

// Errors: silence the automatic printing to stderr, and collect the innermost messages of the current stack.
static inline void fvl_h5e_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static herr_t fvl_h5e_walk_cb(unsigned n, const H5E_error2_t *err, void *data) {
    (void)n;
    char *buf = (char *)data;
    size_t used = strlen(buf);
    if (err->desc == NULL || used + 4 >= 1024) return 0;
    if (used > 0) { strncat(buf, "; ", 1023 - used); used += 2; }
    strncat(buf, err->desc, 1023 - used);
    return 0;
}

/// Writes the current error stack's descriptions (innermost first, "; "-separated) into `buf` (1024 bytes).
static inline void fvl_h5e_describe(char *buf) {
    buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, fvl_h5e_walk_cb, buf);
    H5Eclear2(H5E_DEFAULT);
}

#endif

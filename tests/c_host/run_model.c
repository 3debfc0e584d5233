/*
 * run_model: runs an ONNX model (a pvc-patched one or any other) through the ONNX Runtime C API, the way a C or
 * C++ host would deploy it. It proves that pvc's output needs nothing but a stock ONNX Runtime.
 *
 *   run_model LIBONNXRUNTIME MODEL IN.bin OUT.bin
 *
 * The library is opened with dlopen, so nothing is linked at build time:
 *   gcc -std=c11 -O1 -I INCLUDE_DIR run_model.c -o run_model -ldl
 *
 * IN.bin and OUT.bin share one little-endian format ("PVCT1"):
 *   8 bytes  magic "PVCT1\0\0\0"
 *   u32      tensor count
 *   per tensor:
 *     u32 name length, name bytes (no NUL)
 *     i32 ONNX element type (1 float, 2 uint8, 6 int32, 7 int64, 9 bool, 10 float16, 11 double, 16 bfloat16)
 *     u32 rank, then rank x i64 dims
 *     u64 byte count, then the row-major data
 * Inputs are matched to graph inputs by name; outputs are written in graph order with their own element type.
 * Exit status: 0 on success, 1 on any error (message on stderr).
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnxruntime_c_api.h"

static const OrtApi *api;

static void die(const char *what, const char *detail) {
    fprintf(stderr, "run_model: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void check(OrtStatus *status, const char *what) {
    if (status) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", api->GetErrorMessage(status));
        api->ReleaseStatus(status);
        die(what, msg);
    }
}

typedef struct {
    char *name;
    int32_t type;
    uint32_t rank;
    int64_t *dims;
    uint64_t nbytes;
    void *data;
} Tensor;

static size_t elem_size(int32_t type) {
    switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32: return 4;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return 1;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return 8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16: return 2;
    default: return 0;
    }
}

static void read_exact(FILE *f, void *buf, size_t n, const char *path) {
    if (n && fread(buf, 1, n, f) != n) die("truncated tensor file", path);
}

static void write_exact(FILE *f, const void *buf, size_t n, const char *path) {
    if (n && fwrite(buf, 1, n, f) != n) die("cannot write", path);
}

static const char MAGIC[8] = {'P', 'V', 'C', 'T', '1', 0, 0, 0};

static Tensor *read_tensors(const char *path, uint32_t *count) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open", path);
    char magic[8];
    read_exact(f, magic, 8, path);
    if (memcmp(magic, MAGIC, 8) != 0) die("not a PVCT1 file", path);
    read_exact(f, count, 4, path);
    Tensor *ts = calloc(*count ? *count : 1, sizeof(Tensor));
    for (uint32_t i = 0; i < *count; i++) {
        Tensor *t = &ts[i];
        uint32_t len;
        read_exact(f, &len, 4, path);
        t->name = calloc(len + 1, 1);
        read_exact(f, t->name, len, path);
        read_exact(f, &t->type, 4, path);
        read_exact(f, &t->rank, 4, path);
        t->dims = calloc(t->rank ? t->rank : 1, sizeof(int64_t));
        read_exact(f, t->dims, 8 * (size_t)t->rank, path);
        read_exact(f, &t->nbytes, 8, path);
        size_t n = 1;
        for (uint32_t d = 0; d < t->rank; d++) n *= (size_t)t->dims[d];
        if (elem_size(t->type) == 0 || n * elem_size(t->type) != t->nbytes) die("bad tensor header in", path);
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        read_exact(f, t->data, t->nbytes, path);
    }
    fclose(f);
    return ts;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s LIBONNXRUNTIME MODEL IN.bin OUT.bin\n", argv[0]);
        return 2;
    }
    const char *lib_path = argv[1], *model_path = argv[2], *in_path = argv[3], *out_path = argv[4];

    void *lib = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) die("dlopen failed", dlerror());
    const OrtApiBase *(*get_api_base)(void) = (const OrtApiBase *(*)(void))dlsym(lib, "OrtGetApiBase");
    if (!get_api_base) die("no OrtGetApiBase in", lib_path);
    const OrtApiBase *base = get_api_base();
    /* The header's API version: any library at least that new serves it. */
    api = base->GetApi(ORT_API_VERSION);
    if (!api) die("the library does not support this header's API version", base->GetVersionString());

    OrtEnv *env;
    check(api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "run_model", &env), "CreateEnv");
    OrtSessionOptions *opts;
    check(api->CreateSessionOptions(&opts), "CreateSessionOptions");
    OrtSession *session;
    check(api->CreateSession(env, model_path, opts, &session), "CreateSession");
    OrtAllocator *alloc;
    check(api->GetAllocatorWithDefaultOptions(&alloc), "GetAllocatorWithDefaultOptions");

    uint32_t n_given;
    Tensor *given = read_tensors(in_path, &n_given);

    size_t n_in, n_out;
    check(api->SessionGetInputCount(session, &n_in), "SessionGetInputCount");
    check(api->SessionGetOutputCount(session, &n_out), "SessionGetOutputCount");
    char **in_names = calloc(n_in ? n_in : 1, sizeof(char *));
    char **out_names = calloc(n_out ? n_out : 1, sizeof(char *));
    OrtValue **in_vals = calloc(n_in ? n_in : 1, sizeof(OrtValue *));
    OrtValue **out_vals = calloc(n_out ? n_out : 1, sizeof(OrtValue *));

    OrtMemoryInfo *mem;
    check(api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &mem), "CreateCpuMemoryInfo");
    for (size_t i = 0; i < n_in; i++) {
        check(api->SessionGetInputName(session, i, alloc, &in_names[i]), "SessionGetInputName");
        Tensor *t = NULL;
        for (uint32_t j = 0; j < n_given; j++)
            if (strcmp(given[j].name, in_names[i]) == 0) t = &given[j];
        if (!t) die("missing input", in_names[i]);
        check(api->CreateTensorWithDataAsOrtValue(mem, t->data, t->nbytes, t->dims, t->rank,
                                                  (ONNXTensorElementDataType)t->type, &in_vals[i]),
              "CreateTensorWithDataAsOrtValue");
    }
    for (size_t i = 0; i < n_out; i++)
        check(api->SessionGetOutputName(session, i, alloc, &out_names[i]), "SessionGetOutputName");

    check(api->Run(session, NULL, (const char *const *)in_names, (const OrtValue *const *)in_vals, n_in,
                   (const char *const *)out_names, n_out, out_vals),
          "Run");

    FILE *out = fopen(out_path, "wb");
    if (!out) die("cannot create", out_path);
    uint32_t count = (uint32_t)n_out;
    write_exact(out, MAGIC, 8, out_path);
    write_exact(out, &count, 4, out_path);
    for (size_t i = 0; i < n_out; i++) {
        int is_tensor = 0;
        check(api->IsTensor(out_vals[i], &is_tensor), "IsTensor");
        if (!is_tensor) die("output is not a tensor", out_names[i]);
        OrtTensorTypeAndShapeInfo *info;
        check(api->GetTensorTypeAndShape(out_vals[i], &info), "GetTensorTypeAndShape");
        ONNXTensorElementDataType type;
        size_t rank, n;
        check(api->GetTensorElementType(info, &type), "GetTensorElementType");
        check(api->GetDimensionsCount(info, &rank), "GetDimensionsCount");
        int64_t *dims = calloc(rank ? rank : 1, sizeof(int64_t));
        check(api->GetDimensions(info, dims, rank), "GetDimensions");
        check(api->GetTensorShapeElementCount(info, &n), "GetTensorShapeElementCount");
        api->ReleaseTensorTypeAndShapeInfo(info);
        if (elem_size(type) == 0) die("unsupported output element type", out_names[i]);
        void *data = NULL;
        check(api->GetTensorMutableData(out_vals[i], &data), "GetTensorMutableData");

        uint32_t len = (uint32_t)strlen(out_names[i]), rank32 = (uint32_t)rank;
        int32_t type32 = (int32_t)type;
        uint64_t nbytes = (uint64_t)n * elem_size(type);
        write_exact(out, &len, 4, out_path);
        write_exact(out, out_names[i], len, out_path);
        write_exact(out, &type32, 4, out_path);
        write_exact(out, &rank32, 4, out_path);
        write_exact(out, dims, 8 * rank, out_path);
        write_exact(out, &nbytes, 8, out_path);
        write_exact(out, data, nbytes, out_path);
        free(dims);
    }
    if (fclose(out) != 0) die("cannot write", out_path);

    for (size_t i = 0; i < n_out; i++) {
        api->ReleaseValue(out_vals[i]);
        check(api->AllocatorFree(alloc, out_names[i]), "AllocatorFree");
    }
    for (size_t i = 0; i < n_in; i++) {
        api->ReleaseValue(in_vals[i]);
        check(api->AllocatorFree(alloc, in_names[i]), "AllocatorFree");
    }
    for (uint32_t j = 0; j < n_given; j++) {
        free(given[j].name);
        free(given[j].dims);
        free(given[j].data);
    }
    free(given);
    free(in_names);
    free(out_names);
    free(in_vals);
    free(out_vals);
    api->ReleaseMemoryInfo(mem);
    api->ReleaseSession(session);
    api->ReleaseSessionOptions(opts);
    api->ReleaseEnv(env);
    return 0;
}

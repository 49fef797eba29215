// gnncc_infer: run a gnncc library (CPU) without Python.
//
//   gnncc_infer model.so features.bin output.bin
//
// features.bin holds the raw input (row-major, the dtype and shape the model was compiled for);
// output.bin receives the raw output. The library carries its kernels (a TVM module) and, under
// the symbol gnncc_blob, the weights and a plan: the list of kernel calls of one run on the graph
// the model was compiled for, each argument a (storage, byte offset, dtype, shape). The layout is
// documented in gnncc/runtime/libformat.py and docs/serving.md.
#include <dlfcn.h>
#include <dlpack/dlpack.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr uint32_t kFormatVersion = 1;

struct BlobHeader {  // libformat._HEADER: "<8s16sII6Q"
  char magic[8];
  uint8_t nonce[16];
  uint32_t version;
  uint32_t reserved;
  uint64_t meta_off, meta_len, plan_off, plan_len, data_off, data_len;
};

struct Arg {  // one argument of a kernel call
  std::string storage;  // input | buffer | const
  size_t index = 0, offset = 0;
  DLDataType dtype{};
  std::vector<int64_t> shape;
};

DLDataType ParseDtype(const std::string& s) {
  if (s == "float32") return {kDLFloat, 32, 1};
  if (s == "float64") return {kDLFloat, 64, 1};
  if (s == "int32") return {kDLInt, 32, 1};
  if (s == "int64") return {kDLInt, 64, 1};
  throw std::runtime_error("unsupported dtype in plan: " + s);
}

Arg ParseArg(std::istringstream& in) {
  Arg a;
  std::string dtype;
  size_t ndim = 0;
  in >> a.storage >> a.index >> a.offset >> dtype >> ndim;
  a.dtype = ParseDtype(dtype);
  a.shape.resize(ndim);
  for (auto& d : a.shape) in >> d;
  if (!in) throw std::runtime_error("malformed plan line");
  return a;
}

size_t NumBytes(const Arg& a) {
  size_t n = a.dtype.bits / 8;
  for (int64_t d : a.shape) n *= static_cast<size_t>(d);
  return n;
}

std::vector<char> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  return std::vector<char>(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: " << argv[0] << " model.so features.bin output.bin\n";
    return 2;
  }
  try {
    tvm::ffi::Module mod = tvm::ffi::Module::LoadFromFile(argv[1]);
    // The module loader dlopen()ed the library; this returns the same mapping.
    void* handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    const auto* blob = handle ? static_cast<const uint8_t*>(dlsym(handle, "gnncc_blob")) : nullptr;
    if (blob == nullptr) throw std::runtime_error(std::string(argv[1]) + " has no gnncc_blob: not a gnncc library");
    BlobHeader h;
    std::memcpy(&h, blob, sizeof(h));
    if (std::memcmp(h.magic, "GNNCCLIB", 8) != 0 || h.version != kFormatVersion)
      throw std::runtime_error("unsupported gnncc library format (this program reads version 1)");
    std::istringstream plan(std::string(reinterpret_cast<const char*>(blob + h.plan_off), h.plan_len));
    uint8_t* data = const_cast<uint8_t*>(blob + h.data_off);  // weights: read-only for the kernels

    std::string line, word;
    std::getline(plan, line);
    if (line.rfind("gnncc-plan", 0) != 0) throw std::runtime_error("library has no CPU plan (CUDA library?)");
    std::vector<char> features = ReadFile(argv[2]);
    std::vector<std::unique_ptr<uint8_t, decltype(&std::free)>> buffers;
    std::vector<DLTensor> tensors;
    std::vector<tvm::ffi::AnyView> args;
    while (std::getline(plan, line)) {
      std::istringstream in(line);
      in >> word;
      if (word == "input") {
        std::istringstream rest("input 0 0 " + line.substr(6));
        size_t want = NumBytes(ParseArg(rest));
        if (features.size() != want)
          throw std::runtime_error("features.bin has " + std::to_string(features.size()) + " bytes, the model takes " +
                                   std::to_string(want));
      } else if (word == "buffers") {
        size_t bytes;
        while (in >> bytes) {
          void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 64) + 63) / 64 * 64);
          buffers.emplace_back(static_cast<uint8_t*>(p), &std::free);
        }
      } else if (word == "call" || word == "output") {
        std::string name;
        size_t nargs = 1;
        if (word == "call") in >> name >> nargs;
        std::vector<Arg> call_args;
        if (word == "output") {
          call_args.push_back(ParseArg(in));
        } else {
          for (size_t i = 0; i < nargs && std::getline(plan, line); ++i) {
            std::istringstream arg_line(line.substr(4));  // "arg ..."
            call_args.push_back(ParseArg(arg_line));
          }
        }
        tensors.assign(call_args.size(), DLTensor{});
        args.clear();
        for (size_t i = 0; i < call_args.size(); ++i) {
          Arg& a = call_args[i];
          uint8_t* base = a.storage == "input" ? reinterpret_cast<uint8_t*>(features.data())
                          : a.storage == "buffer" ? buffers.at(a.index).get()
                                                  : data;
          tensors[i] = DLTensor{base + a.offset, DLDevice{kDLCPU, 0}, static_cast<int32_t>(a.shape.size()),
                                a.dtype, a.shape.data(), nullptr, 0};
          args.emplace_back(&tensors[i]);
        }
        if (word == "output") {
          std::ofstream out(argv[3], std::ios::binary);
          out.write(static_cast<const char*>(tensors[0].data), static_cast<std::streamsize>(NumBytes(call_args[0])));
          std::cout << "wrote " << NumBytes(call_args[0]) << " bytes to " << argv[3] << "\n";
        } else {
          tvm::ffi::Function f = mod->GetFunction(name).value();
          tvm::ffi::Any rv;
          f.CallPacked(args.data(), static_cast<int32_t>(args.size()), &rv);
        }
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "gnncc_infer: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

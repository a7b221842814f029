// fashionvl-check-hdf5 FILE: the child-process check of one Fashion-Gen HDF5 file (UntrustedHDF5.swift), as
// `fashionvl check-hdf5` but without loading libtorch. Exit 0: clean; 1: an error (printed); a signal: libhdf5
// crashed on the file; 125: built with another check version than the fashionvl that runs it.
import FashionData
import Foundation

let arguments = CommandLine.arguments.dropFirst()
guard arguments.count == 1, let file = arguments.first else {
    FileHandle.standardError.write(Data("usage: fashionvl-check-hdf5 FILE\n".utf8))
    exit(2)
}
exit(UntrustedHDF5.childMain(file: file))

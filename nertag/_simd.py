"""Fixed-width vectors for the Numba kernels: LLVM vector values, which LLVM keeps in registers.

Numba has no vector type of its own; its loop vectoriser turns a dot product into vector lanes
and a horizontal sum at the end of every dot product. A kernel that holds a block of outputs in
vector registers (``_kernels._times4``) is written with these instead:

    vload(M, i, j, n)    M[i, j:j + min(n, lanes)] as a Vector, 0 in the lanes past n (M
                         2-D, rows contiguous; a masked load: nothing past M[i, j + n - 1] is
                         read). No row view is made: a view in a loop costs reference counts
    vstore(row, j, n, v) row[j:j + min(n, lanes)] <- the first lanes of v (masked: nothing
                         past row[j + n - 1] is written)
    vsplat(x)            a Vector whose every lane is x
    vfma(a, b, c)        a * b + c lane by lane, rounded once (llvm.fma)

A Vector is VECTOR_BYTES wide: 16 float32 or 8 float64 lanes, one AVX-512 register; where a
CPU's registers are narrower, LLVM splits it (and a CPU without FMA instructions, such as some
low-end x86 parts, would get the same results from a slow library call). The masks let a
row end inside a Vector (H = 100 is six Vectors and four lanes) without padding; where the mask
is loop-invariant LLVM hoists it, and AVX-512 loads and stores under a mask at the cost of
plain ones.

The intrinsics refuse (at compile time) arrays that are not C-contiguous or whose float type is
not the Vector's: they address memory as contiguous lanes. Numba's cache is keyed on the source
of the module a function is in, so after editing this file clear the compiled code of
_kernels (``find nertag -name '*.nb[ic]' -delete``).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, models, register_model

VECTOR_BYTES = 64


class Vector(types.Type):
    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = VECTOR_BYTES // (dtype.bitwidth // 8)
        super().__init__(name=f"Vector({dtype} x {self.lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        lane = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(lane, fe_type.lanes))


def _contiguous(array, ndim, dtype, name):
    """Refuse, at compile time, what a Vector cannot address as contiguous lanes."""
    if not (isinstance(array, types.Array) and array.ndim == ndim and array.layout == "C"
            and isinstance(array.dtype, types.Float) and array.dtype == (dtype or array.dtype)):
        raise TypingError(f"{name}: a C-contiguous {ndim}-D float array"
                          f"{f' of {dtype}' if dtype else ''} is needed, not {array}")


def _pointer(context, builder, array_type, array, indices, vector_type):
    """A Vector's pointer at array[indices] (no bounds check: the mask is the check)."""
    ary = context.make_array(array_type)(context, builder, array)
    ndim = array_type.ndim
    element = cgutils.get_item_pointer2(
        context, builder, data=ary.data, shape=cgutils.unpack_tuple(builder, ary.shape, ndim),
        strides=cgutils.unpack_tuple(builder, ary.strides, ndim), layout=array_type.layout,
        inds=indices, wraparound=False)
    return builder.bitcast(element, context.get_value_type(vector_type).as_pointer())


def _first_lanes(builder, lanes, n):
    """The mask <lanes x i1> of the lanes below n."""
    index = ir.Constant(ir.VectorType(ir.IntType(64), lanes), list(range(lanes)))
    count = builder.sext(n, ir.IntType(64)) if n.type.width < 64 else n
    undefined = ir.Constant(index.type, ir.Undefined)
    splat = builder.shuffle_vector(
        builder.insert_element(undefined, count, ir.Constant(ir.IntType(32), 0)), undefined,
        ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
    return builder.icmp_signed("<", index, splat)


def _masked(builder, name, vector_type, argument_types, args):
    suffix = f"v{vector_type.count}{'f32' if vector_type.element == ir.FloatType() else 'f64'}"
    function = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(argument_types[0], argument_types[1:]),
        f"llvm.masked.{name}.{suffix}.p0{suffix}")
    return builder.call(function, args)


@intrinsic
def vload(typingctx, M, i, j, n):
    _contiguous(M, 2, None, "vload")
    vector = Vector(M.dtype)

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(vector)
        pointer = _pointer(context, builder, sig.args[0], args[0], args[1:3], vector)
        mask = _first_lanes(builder, vector.lanes, args[3])
        align = ir.Constant(ir.IntType(32), M.dtype.bitwidth // 8)
        zero = ir.Constant(vector_type, [0.0] * vector.lanes)
        return _masked(builder, "load", vector_type,
                       [vector_type, pointer.type, align.type, mask.type, vector_type],
                       [pointer, align, mask, zero])

    return vector(M, i, j, n), codegen


@intrinsic
def vstore(typingctx, row, j, n, v):
    if not isinstance(v, Vector):
        raise TypingError(f"vstore: a Vector to store, not {v}")
    _contiguous(row, 1, v.dtype, "vstore")

    def codegen(context, builder, sig, args):
        vector_type = args[3].type
        pointer = _pointer(context, builder, sig.args[0], args[0], [args[1]], v)
        mask = _first_lanes(builder, v.lanes, args[2])
        align = ir.Constant(ir.IntType(32), row.dtype.bitwidth // 8)
        _masked(builder, "store", vector_type,
                [ir.VoidType(), vector_type, pointer.type, align.type, mask.type],
                [args[3], pointer, align, mask])
        return context.get_dummy_value()

    return types.none(row, j, n, v), codegen


@intrinsic
def vsplat(typingctx, x):
    if not isinstance(x, types.Float):
        raise TypingError(f"vsplat: a float, not {x}")
    vector = Vector(x)

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(vector)
        undefined = ir.Constant(vector_type, ir.Undefined)
        first = builder.insert_element(undefined, args[0], ir.Constant(ir.IntType(32), 0))
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), vector.lanes), [0] * vector.lanes)
        return builder.shuffle_vector(first, undefined, zeros)

    return vector(x), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    if not (isinstance(a, Vector) and a == b == c):
        raise TypingError(f"vfma: three Vectors of one type, not {a}, {b}, {c}")

    def codegen(context, builder, sig, args):
        vector_type = args[0].type
        suffix = "f32" if vector_type.element == ir.FloatType() else "f64"
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector_type, [vector_type] * 3),
            f"llvm.fma.v{vector_type.count}{suffix}")
        return builder.call(fma, args)

    return a(a, b, c), codegen

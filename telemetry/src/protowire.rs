//! The protobuf wire format's primitives, for the encoders that write messages directly
//! (remote_write, Loki push) instead of building prost structs first: field keys, varints and
//! length-delimited field sizes. Field numbers here are all below 16, so a key is one byte.

pub(crate) const WIRE_VARINT: u8 = 0;
pub(crate) const WIRE_FIXED64: u8 = 1;
pub(crate) const WIRE_LEN: u8 = 2;

/// The one-byte key of `field` (< 16) with `wire_type`.
#[inline]
pub(crate) const fn key(field: u8, wire_type: u8) -> u8 {
    (field << 3) | wire_type
}

/// Bytes of `v` as a varint: 1 per 7 bits, at least one.
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Size of a length-delimited field (one-byte key, length, payload).
#[inline]
pub(crate) fn len_field_size(payload: usize) -> usize {
    1 + varint_len(payload as u64) + payload
}

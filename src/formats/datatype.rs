//! The VOTable datatypes: their names, binary sizes, Arrow types and integer nulls. The
//! reader accepts every one; the writers produce the subset that Arrow results map to
//! (also FITS TFORM letters, see `formats::fits`).

use datafusion::arrow::datatypes::DataType;

/// A VOTable `datatype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datatype {
    /// `boolean`, FITS `L`.
    Boolean,
    /// `bit` (read only; FITS `X`).
    Bit,
    /// `unsignedByte`, FITS `B`.
    UInt8,
    /// `short`, FITS `I`.
    Int16,
    /// `int`, FITS `J`.
    Int32,
    /// `long`, FITS `K`.
    Int64,
    /// `float`, FITS `E`.
    Float32,
    /// `double`, FITS `D`.
    Float64,
    /// `char` (written with `arraysize`), FITS `A`.
    Char,
    /// `unicodeChar` (read only).
    UnicodeChar,
    /// `floatComplex` (read only: two `float`s).
    FloatComplex,
    /// `doubleComplex` (read only: two `double`s).
    DoubleComplex,
}

impl Datatype {
    /// Reads a `datatype` attribute ("string" and "unicodeString", which some writers
    /// use, are taken as `char` and `unicodeChar`).
    pub fn parse(name: &str) -> Option<Datatype> {
        Some(match name {
            "boolean" => Datatype::Boolean,
            "bit" => Datatype::Bit,
            "unsignedByte" => Datatype::UInt8,
            "short" => Datatype::Int16,
            "int" => Datatype::Int32,
            "long" => Datatype::Int64,
            "float" => Datatype::Float32,
            "double" => Datatype::Float64,
            "char" | "string" => Datatype::Char,
            "unicodeChar" | "unicodeString" => Datatype::UnicodeChar,
            "floatComplex" => Datatype::FloatComplex,
            "doubleComplex" => Datatype::DoubleComplex,
            _ => return None,
        })
    }

    /// The `datatype` attribute.
    pub fn name(self) -> &'static str {
        match self {
            Datatype::Boolean => "boolean",
            Datatype::Bit => "bit",
            Datatype::UInt8 => "unsignedByte",
            Datatype::Int16 => "short",
            Datatype::Int32 => "int",
            Datatype::Int64 => "long",
            Datatype::Float32 => "float",
            Datatype::Float64 => "double",
            Datatype::Char => "char",
            Datatype::UnicodeChar => "unicodeChar",
            Datatype::FloatComplex => "floatComplex",
            Datatype::DoubleComplex => "doubleComplex",
        }
    }

    /// Bytes of one element in BINARY serializations (bits are handled apart).
    pub fn size(self) -> usize {
        match self {
            Datatype::Boolean | Datatype::UInt8 | Datatype::Char | Datatype::Bit => 1,
            Datatype::Int16 | Datatype::UnicodeChar => 2,
            Datatype::Int32 | Datatype::Float32 => 4,
            Datatype::Int64 | Datatype::Float64 | Datatype::FloatComplex => 8,
            Datatype::DoubleComplex => 16,
        }
    }

    /// Whether values are text.
    pub fn is_text(self) -> bool {
        matches!(self, Datatype::Char | Datatype::UnicodeChar)
    }

    /// Whether values are integers.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            Datatype::UInt8 | Datatype::Int16 | Datatype::Int32 | Datatype::Int64
        )
    }

    /// The smallest value of an integer type (the default null of integer arrays; 255 for
    /// unsigned bytes).
    pub fn minimum(self) -> Option<i64> {
        match self {
            Datatype::UInt8 => Some(255),
            Datatype::Int16 => Some(i16::MIN as i64),
            Datatype::Int32 => Some(i32::MIN as i64),
            Datatype::Int64 => Some(i64::MIN),
            _ => None,
        }
    }

    /// The Arrow type of one element (a complex number's components are its elements).
    pub fn arrow_type(self) -> DataType {
        match self {
            Datatype::Boolean | Datatype::Bit => DataType::Boolean,
            Datatype::UInt8 => DataType::UInt8,
            Datatype::Int16 => DataType::Int16,
            Datatype::Int32 => DataType::Int32,
            Datatype::Int64 => DataType::Int64,
            Datatype::Float32 | Datatype::FloatComplex => DataType::Float32,
            Datatype::Float64 | Datatype::DoubleComplex => DataType::Float64,
            Datatype::Char | Datatype::UnicodeChar => DataType::Utf8,
        }
    }
}

using System.Buffers.Binary;
using System.IO.Compression;

namespace Sluice.Testing;

/// <summary>
/// gRPC message bodies built by hand, for calls a gRPC client will not make: a message compressed
/// once and sent many times, a gzip bomb, a flag that lies about compression.
/// </summary>
public static class GrpcFrames
{
    /// <summary>gzip of <paramref name="bytes"/>, as a gRPC client compresses a message.</summary>
    public static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(bytes);
        }
        return output.ToArray();
    }

    /// <summary>gzip of <paramref name="bytes"/> zero bytes (whole MiB), as small as gzip makes it: a decompression bomb.</summary>
    public static byte[] GzipZeros(int bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1 << 20];
            for (int i = 0; i < bytes / zeros.Length; i++)
            {
                gzip.Write(zeros);
            }
        }
        return output.ToArray();
    }

    /// <summary>One length-prefixed message: flag (1 = compressed), length (big-endian), bytes.</summary>
    public static byte[] Frame(byte[] message, bool compressed)
    {
        var frame = new byte[5 + message.Length];
        frame[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame, 5);
        return frame;
    }
}

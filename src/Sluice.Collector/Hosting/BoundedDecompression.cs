using System.IO.Compression;
using Grpc.Core;
using Grpc.Net.Compression;

namespace Sluice.Collector.Hosting;

/// <summary>A gRPC compression provider whose decompression stops, with RESOURCE_EXHAUSTED, once a message exceeds the size limit.</summary>
/// <remarks>
/// grpc-dotnet's <c>MaxReceiveMessageSize</c> is compared with the message's length on the wire, which
/// for a compressed message is its compressed length. The server then inflates the whole message
/// into a <c>MemoryStream</c> with no limit (Grpc.AspNetCore.Server, checked on 2.85.0:
/// <c>PipeExtensions.TryReadMessage</c>, <c>TryDecompressMessage</c>). 16 MiB of gzip can inflate to
/// gigabytes. This provider wraps the inflating stream: reading past <see cref="MaxBytes"/> throws,
/// so at most that much is ever decompressed, and gRPC answers the call with the exception's
/// status. The message starts as gRPC's own size refusal does, so one test finds both
/// (<see cref="IsTooLarge"/>).
/// </remarks>
internal sealed class BoundedDecompression(ICompressionProvider inner, int maxBytes) : ICompressionProvider
{
    /// <summary>How grpc-dotnet's refusal of a message over MaxReceiveMessageSize begins (and so does ours).</summary>
    internal const string TooLargePrefix = "Received message exceeds the maximum configured message size";

    /// <summary>gzip and deflate, as grpc-dotnet's server offers by default, each bounded.</summary>
    public static IEnumerable<ICompressionProvider> Defaults(int maxBytes) =>
    [
        new BoundedDecompression(new GzipCompressionProvider(CompressionLevel.Fastest), maxBytes),
        new BoundedDecompression(new DeflateCompressionProvider(CompressionLevel.Fastest), maxBytes),
    ];

    public int MaxBytes => maxBytes;

    public string EncodingName => inner.EncodingName;

    public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel) => inner.CreateCompressionStream(stream, compressionLevel);

    public Stream CreateDecompressionStream(Stream stream) => new Limited(inner.CreateDecompressionStream(stream), maxBytes);

    /// <summary>True for a status that refuses a message for its size, gRPC's or this provider's.</summary>
    internal static bool IsTooLarge(StatusCode code, string? detail) =>
        code == StatusCode.ResourceExhausted && detail is not null && detail.StartsWith(TooLargePrefix, StringComparison.Ordinal);

    private sealed class Limited(Stream inner, int maxBytes) : Stream
    {
        private long _read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            _read += n;
            if (_read > maxBytes)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"{TooLargePrefix}: it is more than {maxBytes} bytes once decompressed (the collector's --max-message-bytes)"));
            }
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}

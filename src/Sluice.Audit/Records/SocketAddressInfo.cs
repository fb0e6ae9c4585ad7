using System.Buffers.Binary;
using System.Net;

namespace Sluice.Audit.Records;

/// <summary>A SOCKADDR record's <c>saddr</c>, decoded from the hex of the <c>struct sockaddr</c> the process passed.</summary>
public sealed class SocketAddressInfo
{
    public const ushort AF_UNIX = 1;
    public const ushort AF_INET = 2;
    public const ushort AF_INET6 = 10;
    public const ushort AF_NETLINK = 16;

    /// <summary>The address family number (host byte order, as the struct holds it).</summary>
    public ushort FamilyNumber { get; private init; }

    /// <summary><c>inet</c>, <c>inet6</c>, <c>unix</c>, <c>netlink</c>, or <c>family N</c>.</summary>
    public string Family { get; private init; } = "";

    /// <summary>IP address text for inet/inet6.</summary>
    public string? Address { get; private init; }

    /// <summary>Port for inet/inet6.</summary>
    public ushort? Port { get; private init; }

    /// <summary>IPv6 flow info and scope id.</summary>
    public uint? FlowInfo { get; private init; }

    public uint? ScopeId { get; private init; }

    /// <summary>The socket path for unix; for an abstract socket, the name after the leading NUL.</summary>
    public byte[]? Path { get; private init; }

    /// <summary>True for a unix socket in the abstract namespace (path starts with NUL).</summary>
    public bool IsAbstract { get; private init; }

    /// <summary>Netlink port id and multicast groups.</summary>
    public uint? NetlinkPid { get; private init; }

    public uint? NetlinkGroups { get; private init; }

    /// <summary>The raw struct bytes.</summary>
    public byte[] Raw { get; private init; } = [];

    /// <summary>Decodes the bytes of a sockaddr; false if they are too short for any family.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> sockaddr, out SocketAddressInfo info)
    {
        info = null!;
        if (sockaddr.Length < 2)
        {
            return false;
        }
        // sa_family is in host byte order; the kernel and the agent share the host (little-endian on x86_64 and aarch64)
        ushort family = BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt16LittleEndian(sockaddr) : BinaryPrimitives.ReadUInt16BigEndian(sockaddr);
        byte[] raw = sockaddr.ToArray();
        switch (family)
        {
            case AF_INET when sockaddr.Length >= 8:
                info = new SocketAddressInfo
                {
                    FamilyNumber = family,
                    Family = "inet",
                    Port = BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]),
                    Address = new IPAddress(sockaddr.Slice(4, 4)).ToString(),
                    Raw = raw,
                };
                return true;
            case AF_INET6 when sockaddr.Length >= 24:
                info = new SocketAddressInfo
                {
                    FamilyNumber = family,
                    Family = "inet6",
                    Port = BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]),
                    FlowInfo = BinaryPrimitives.ReadUInt32BigEndian(sockaddr[4..]),
                    Address = new IPAddress(sockaddr.Slice(8, 16)).ToString(),
                    ScopeId = sockaddr.Length >= 28 ? ReadHost32(sockaddr[24..]) : null,
                    Raw = raw,
                };
                return true;
            case AF_UNIX:
                {
                    ReadOnlySpan<byte> path = sockaddr[2..];
                    bool isAbstract = path.Length > 0 && path[0] == 0;
                    if (isAbstract)
                    {
                        // abstract names are length-delimited and may hold NULs (unix(7))
                        path = path[1..];
                    }
                    else
                    {
                        int nul = path.IndexOf((byte)0);
                        if (nul >= 0)
                        {
                            path = path[..nul];
                        }
                    }
                    info = new SocketAddressInfo { FamilyNumber = family, Family = "unix", Path = path.ToArray(), IsAbstract = isAbstract, Raw = raw };
                    return true;
                }
            case AF_NETLINK when sockaddr.Length >= 12:
                info = new SocketAddressInfo
                {
                    FamilyNumber = family,
                    Family = "netlink",
                    NetlinkPid = ReadHost32(sockaddr[4..]),
                    NetlinkGroups = ReadHost32(sockaddr[8..]),
                    Raw = raw,
                };
                return true;
            default:
                info = new SocketAddressInfo { FamilyNumber = family, Family = $"family {family}", Raw = raw };
                return true;
        }
    }

    /// <summary>A one-line rendering, e.g. <c>inet 127.0.0.1:80</c>, <c>inet6 [::1]:0</c>, <c>unix @name</c>, <c>netlink pid=0 groups=0</c>.</summary>
    public override string ToString() => Family switch
    {
        "inet" => $"inet {Address}:{Port}",
        "inet6" => $"inet6 [{Address}]:{Port}",
        "unix" => $"unix {(IsAbstract ? "@" : "")}{System.Text.Encoding.UTF8.GetString(Path ?? [])}",
        "netlink" => $"netlink pid={NetlinkPid} groups={NetlinkGroups:x}",
        _ => $"{Family} {Convert.ToHexString(Raw)}",
    };

    private static uint ReadHost32(ReadOnlySpan<byte> b) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32BigEndian(b);
}

using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Sluice.Audit.Interop;

/// <summary>Owns the file descriptor of a NETLINK_AUDIT socket.</summary>
internal sealed class NetlinkSocketHandle : SafeHandle
{
    public NetlinkSocketHandle() : base(new IntPtr(-1), ownsHandle: true) { }

    public NetlinkSocketHandle(int fd) : base(new IntPtr(-1), ownsHandle: true) => SetHandle(new IntPtr(fd));

    public override bool IsInvalid => handle.ToInt64() < 0;

    public int Fd => (int)handle.ToInt64();

    protected override bool ReleaseHandle() => LibC.close((int)handle.ToInt64()) == 0;
}

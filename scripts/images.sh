#!/usr/bin/env bash
# Build the container images the molecule scenarios run in, from Debian packages only, and reuse them.
#
#   scripts/images.sh                 build (or reuse) every image
#   scripts/images.sh base:trixie     only the images named (FLAVOUR:RELEASE)
#   scripts/images.sh --list          print the images and their content tags, build nothing
#   scripts/images.sh --prune         also remove older content tags of these images
#
# No container registry is reachable from our machines, so every image is a root file system that
# mmdebstrap assembles from Debian's archive (the default mirror, or HMV_DEBIAN_MIRROR), imported with
# `podman import`.  The flavours:
#
#   base            python3, python3-pyroute2 (the distribution's), iproute2, iputils-ping, procps;
#                   for Debian 11 (bullseye), 12 (bookworm) and 13 (trixie)
#   networkd        base + systemd, systemd-sysv, udev, dbus; boots systemd with systemd-networkd enabled
#   networkmanager  base + systemd, systemd-sysv, udev, dbus, network-manager; boots systemd with
#                   NetworkManager enabled (systemd-networkd disabled)
#   ifupdown        base + systemd, systemd-sysv, udev, dbus, ifupdown; boots systemd with ifupdown's
#                   networking.service enabled (systemd-networkd disabled and masked; no NetworkManager) and
#                   the package's own /etc/network/interfaces (`source /etc/network/interfaces.d/*`)
#   sshd            networkd's + openssh-server; boots systemd with systemd-networkd and sshd enabled (hosts the
#                   controller reaches over SSH, for the confirm scenario)
#
# Cache by content: the content key of an image is the SHA-256 of this script, the flavour, the release and
# the package list.  An image is built only when the tag <prefix>-<flavour>:<release>-<key> does not exist;
# then (built or reused) it is tagged <prefix>-<flavour>:<release>, the name the scenarios use.  Changing a
# package list or this script rebuilds exactly the images whose key changed.
#
# Needs root, podman and mmdebstrap (scripts/molecule-setup.sh installs them).
#
# Environment:
#   HMV_IMAGE_PREFIX    image name prefix (default localhost/hostnet-macvlan)
#   HMV_DEBIAN_MIRROR   Debian mirror URI for mmdebstrap (default: mmdebstrap's default mirror)
#   HMV_IMAGE_JOBS      images built at the same time (default 2)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF=$ROOT/scripts/images.sh
PREFIX=${HMV_IMAGE_PREFIX:-localhost/hostnet-macvlan}
MIRROR=${HMV_DEBIAN_MIRROR:-}
JOBS=${HMV_IMAGE_JOBS:-2}
WORK=$ROOT/.build/images

# Every image: flavour:release.  The scenarios name them as $PREFIX-<flavour>:<release>.
ALL_IMAGES=(base:bullseye base:bookworm base:trixie networkd:bookworm networkmanager:bookworm ifupdown:bookworm sshd:bookworm)

COMMON_PACKAGES=(python3 python3-pyroute2 iproute2 iputils-ping procps)
SYSTEMD_PACKAGES=(systemd systemd-sysv udev dbus)

log() { printf 'images: %s\n' "$*"; }
die() { printf 'images: ERROR: %s\n' "$*" >&2; exit 1; }

packages() {  # FLAVOUR -> the package list, one line
    case $1 in
        base) echo "${COMMON_PACKAGES[*]}" ;;
        networkd) echo "${COMMON_PACKAGES[*]} ${SYSTEMD_PACKAGES[*]}" ;;
        networkmanager) echo "${COMMON_PACKAGES[*]} ${SYSTEMD_PACKAGES[*]} network-manager" ;;
        ifupdown) echo "${COMMON_PACKAGES[*]} ${SYSTEMD_PACKAGES[*]} ifupdown" ;;
        sshd) echo "${COMMON_PACKAGES[*]} ${SYSTEMD_PACKAGES[*]} openssh-server" ;;
        *) die "unknown flavour '$1' (base, networkd, networkmanager, ifupdown, sshd)" ;;
    esac
}

command_of() {  # FLAVOUR -> the image's CMD (JSON)
    case $1 in
        base) echo '["sleep", "infinity"]' ;;
        *) echo '["/sbin/init"]' ;;
    esac
}

content_key() {  # FLAVOUR RELEASE -> 12 hex digits
    { sha256sum "$SELF" | cut -d' ' -f1; echo "$1 $2"; packages "$1"; } | sha256sum | cut -c1-12
}

stable_name() { echo "$PREFIX-$1:$2"; }
content_name() { echo "$PREFIX-$1:$2-$(content_key "$1" "$2")"; }

# Hooks that run in the finished root file system, per flavour (mmdebstrap passes its path as "$1").
# shellcheck disable=SC2016
customize_hooks() {
    local flavour=$1
    case $flavour in
        networkd | sshd)
            printf '%s\n' '--customize-hook=systemctl --root="$1" enable systemd-networkd.service' \
                '--customize-hook=systemctl --root="$1" mask systemd-networkd-wait-online.service'
            ;;
        networkmanager)
            printf '%s\n' '--customize-hook=systemctl --root="$1" disable systemd-networkd.service' \
                '--customize-hook=systemctl --root="$1" enable NetworkManager.service' \
                '--customize-hook=systemctl --root="$1" mask NetworkManager-wait-online.service'
            ;;
        ifupdown)
            # ifupdown alone: networking.service runs `ifup -a` at boot; systemd-networkd can never start
            printf '%s\n' '--customize-hook=systemctl --root="$1" disable systemd-networkd.service' \
                '--customize-hook=systemctl --root="$1" mask systemd-networkd.service systemd-networkd.socket' \
                '--customize-hook=systemctl --root="$1" enable networking.service' \
                '--customize-hook=systemctl --root="$1" mask ifupdown-wait-online.service'
            ;;
    esac
    if [[ $flavour != base ]]; then
        # a container has no consoles to log in on and no kernel modules to load
        printf '%s\n' '--customize-hook=systemctl --root="$1" mask getty.target console-getty.service systemd-modules-load.service'
        # systemd creates the machine id at boot
        printf '%s\n' '--customize-hook=: > "$1/etc/machine-id"'
    fi
}

build_one() {  # FLAVOUR RELEASE
    local flavour=$1 release=$2 content stable tar start hooks=()
    content=$(content_name "$flavour" "$release")
    stable=$(stable_name "$flavour" "$release")
    if podman image exists "$content"; then
        podman tag "$content" "$stable"
        log "$stable: reused $content"
        return
    fi
    start=$(date +%s)
    mkdir -p "$WORK"
    tar=$(mktemp -p "$WORK" "rootfs-$flavour-$release.XXXXXX.tar")
    mapfile -t hooks < <(customize_hooks "$flavour")
    local include
    include=$(packages "$flavour" | tr ' ' ',')
    log "$stable: building with mmdebstrap ($include)"
    if ! mmdebstrap --quiet --variant=minbase --include="$include" "${hooks[@]}" \
        "$release" "$tar" ${MIRROR:+"$MIRROR"} >"$tar.log" 2>&1; then
        cat "$tar.log" >&2
        rm -f "$tar" "$tar.log"
        die "$stable: mmdebstrap failed"
    fi
    podman import --quiet \
        --change "CMD $(command_of "$flavour")" \
        --change "LABEL org.hostnet.macvlan.image=$flavour:$release" \
        --change "LABEL org.hostnet.macvlan.packages=$(packages "$flavour")" \
        "$tar" "$content" >/dev/null
    rm -f "$tar" "$tar.log"
    podman tag "$content" "$stable"
    log "$stable: built $content in $(( $(date +%s) - start ))s"
}

prune() {  # remove content tags of our images that are no longer current
    local image flavour release repo current tag
    for image in "${ALL_IMAGES[@]}"; do
        flavour=${image%%:*} release=${image#*:}
        repo=$PREFIX-$flavour
        current=$(content_name "$flavour" "$release")
        while read -r tag; do
            [[ $tag == "$repo:$release-"* && $tag != "$current" ]] || continue
            podman rmi "$tag" >/dev/null && log "pruned $tag"
        done < <(podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$repo")
    done
}

main() {
    local list=0 prune_old=0 images=() arg
    for arg in "$@"; do
        case $arg in
            --list) list=1 ;;
            --prune) prune_old=1 ;;
            -h | --help) sed -n '2,/^set -euo/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//'; return ;;
            *:*) images+=("$arg") ;;
            *) die "unknown argument '$arg' (FLAVOUR:RELEASE, --list, --prune)" ;;
        esac
    done
    [[ ${#images[@]} -gt 0 ]] || images=("${ALL_IMAGES[@]}")
    if [[ $list == 1 ]]; then
        for arg in "${images[@]}"; do
            printf '%-48s %s\n' "$(stable_name "${arg%%:*}" "${arg#*:}")" "$(content_name "${arg%%:*}" "${arg#*:}")"
        done
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "needs root (mmdebstrap builds the root file systems, podman imports them)"
    command -v podman >/dev/null || die "podman is missing (scripts/molecule-setup.sh installs it)"
    command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (scripts/molecule-setup.sh installs it)"

    local start pids=() failed=0 pid
    start=$(date +%s)
    for arg in "${images[@]}"; do
        packages "${arg%%:*}" >/dev/null
        build_one "${arg%%:*}" "${arg#*:}" &
        pids+=($!)
        if [[ ${#pids[@]} -ge $JOBS ]]; then
            wait "${pids[0]}" || failed=1
            pids=("${pids[@]:1}")
        fi
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    [[ $failed == 0 ]] || die "some images failed to build"
    [[ $prune_old == 0 ]] || prune
    log "${#images[@]} images ready in $(( $(date +%s) - start ))s"
}

main "$@"

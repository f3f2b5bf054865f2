# libtorch 1.13.1, the official CPU build, as nixpkgs' own libtorch-bin 1.13.1 expression fetched
# it: the version `tch =0.10.3` is written against and the one Debian's libtorch-dev ships.
# One output holding include/, lib/ and share/, the layout torch-sys expects under $LIBTORCH.
{
  lib,
  stdenv,
  fetchzip,
  autoPatchelfHook,
}:
let
  version = "1.13.1";
in
stdenv.mkDerivation {
  pname = "libtorch";
  inherit version;

  src = fetchzip {
    # The URL's "%2B" is not allowed in a store path name.
    name = "libtorch-cxx11-abi-shared-with-deps-${version}-cpu";
    url = "https://download.pytorch.org/libtorch/cpu/libtorch-cxx11-abi-shared-with-deps-${version}%2Bcpu.zip";
    hash = "sha256-AXmlrtGNMVOYbQfvAQDUALlK1F0bMGNdm6RBtVuNvbo=";
  };

  nativeBuildInputs = [ autoPatchelfHook ];
  # libstdc++ for the prebuilt libraries; their OpenMP runtime (libgomp-*.so) ships in lib/.
  buildInputs = [ stdenv.cc.cc.lib ];

  dontConfigure = true;
  dontBuild = true;
  # Prebuilt release libraries: stripping gains nothing and costs minutes.
  dontStrip = true;

  installPhase = ''
    runHook preInstall
    mkdir -p $out
    cp -r include share $out/
    install -Dm755 -t $out/lib lib/*.so*
    # Java bindings are not used.
    rm -f $out/lib/lib*jni*
    runHook postInstall
  '';

  meta = {
    description = "PyTorch's C++ library, official CPU build";
    homepage = "https://pytorch.org";
    license = lib.licenses.bsd3;
    platforms = [ "x86_64-linux" ];
  };
}

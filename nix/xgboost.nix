# The XGBoost 3.4.1 CPU library from the same PyPI wheel (`xgboost-cpu`, pinned by sha256) that
# scripts/setup unpacks, so models trained on either path are made by identical code.
# lib/ holds libxgboost.so, its SONAME link libxgboost.so.3 and the wheel's bundled libgomp.
{
  lib,
  stdenv,
  fetchurl,
  unzip,
  autoPatchelfHook,
}:
let
  version = "3.4.1";
  wheel = "xgboost_cpu-${version}-py3-none-manylinux_2_28_x86_64.whl";
in
stdenv.mkDerivation {
  pname = "xgboost-cpu-lib";
  inherit version;

  src = fetchurl {
    url = "https://files.pythonhosted.org/packages/py3/x/xgboost-cpu/${wheel}";
    sha256 = "1f16331f5c6beb2b40fbd4bf2834333062d93c9eb38b76186a5c206841dc1809";
  };

  nativeBuildInputs = [
    unzip
    autoPatchelfHook
  ];
  buildInputs = [ stdenv.cc.cc.lib ];

  unpackPhase = ''
    runHook preUnpack
    unzip -q $src 'xgboost/lib/*' 'xgboost_cpu.libs/*'
    runHook postUnpack
  '';
  dontConfigure = true;
  dontBuild = true;
  dontStrip = true;

  installPhase = ''
    runHook preInstall
    install -Dm755 -t $out/lib xgboost/lib/libxgboost.so xgboost_cpu.libs/*.so*
    # The library's SONAME is libxgboost.so.3; the wheel ships only the unversioned name.
    ln -s libxgboost.so $out/lib/libxgboost.so.3
    runHook postInstall
  '';

  meta = {
    description = "XGBoost gradient boosting library (CPU build from the xgboost-cpu wheel)";
    homepage = "https://xgboost.ai";
    license = lib.licenses.asl20;
    platforms = [ "x86_64-linux" ];
  };
}

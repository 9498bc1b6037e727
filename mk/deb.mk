# mk/deb.mk - `make deb`: Debian packages built with plain dpkg-deb from
# the module, plugin and sdctl of the tree (pkg/build-deb.sh):
#   tgt-sheepdog_$(DEB_VERSION)_$(arch).deb            module, export tool
#   nbdkit-plugin-sheepdog_$(DEB_VERSION)_$(arch).deb  plugin, systemd unit
#   sheepdog-sdctl_$(DEB_VERSION)_$(arch).deb          sdctl
# into $(DEB_OUT) (default: build/deb).

DEB_VERSION	?= 0.1.0
DEB_OUT		?= $(CURDIR)/$(B)/deb

deb: $(MODULE) $(PLUGIN) $(SDCTL)
	@bash pkg/build-deb.sh $(DEB_OUT) $(DEB_VERSION)

.PHONY: deb

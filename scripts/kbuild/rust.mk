# Included by each module's Kbuild. Links the module's prepared Rust object (built by
# the top-level Makefile into $(KMODS_BUILD)) and the C helpers into $(kmod-name).ko.
#
# The copy rule goes through if_changed so Kbuild records a .cmd file for the object
# (modpost needs it), and runs objtool on it the way Kbuild does for its own objects
# (ORC unwind tables, retpoline/return-thunk sites); --link because the object was
# linked from several compilation units.

ifeq ($(KMODS_BUILD),)
$(error KMODS_BUILD is not set: build with the top-level Makefile ('make'), not Kbuild directly)
endif

obj-m := $(kmod-name).o
$(kmod-name)-y := $(kmod-name)_rust.o helpers.o
ccflags-y += -I$(src)/../kernel/helpers

quiet_cmd_rust_object = RUSTOBJ $@
      cmd_rust_object = cp $< $@ $(if $(objtool-enabled), ; $(objtool) $(objtool-args) $(if $(delay-objtool),,--link) $@)

$(obj)/$(kmod-name)_rust.o: $(KMODS_BUILD)/$(kmod-name).rust.o FORCE
	$(call if_changed,rust_object)

targets += $(kmod-name)_rust.o
